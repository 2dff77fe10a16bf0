"""Drift reports (Evidently) and where reports are stored."""
