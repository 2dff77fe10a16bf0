"""Dev-only helpers: the local test and demo servers (devservices.py) and their launcher (services.py)."""
