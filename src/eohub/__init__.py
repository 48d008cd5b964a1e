"""eohub: an Earth-observation data hub (ingest, catalogue, search, serve, mirror)."""

__version__ = "0.1.0"
