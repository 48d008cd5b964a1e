"""Ingest: open products as distributed, read their metadata, make their previews."""
