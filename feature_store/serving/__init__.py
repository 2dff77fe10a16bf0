"""The real-time serving endpoint (`featurestore serve`): see serving/app.py."""
