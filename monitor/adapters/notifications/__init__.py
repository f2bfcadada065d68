"""Adapters that notify external systems."""
