"""Offline computation into Delta: landing zones, validated ingest, tiled windows, transforms, feature tables."""
