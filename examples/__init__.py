"""Examples of feature repos built on the engine."""
