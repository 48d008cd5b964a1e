"""The scale-out catalogue backend: PostgreSQL + PostGIS (see ``backend.PostgisCatalogue``)."""

from eohub.catalogue.postgis.backend import PostgisCatalogue

__all__ = ["PostgisCatalogue"]
