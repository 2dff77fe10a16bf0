"""What the engine runs on: settings and the variables they come from, secrets, the Spark session, time helpers."""
