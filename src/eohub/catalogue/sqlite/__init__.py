"""The embedded catalogue backend: one SQLite file (WAL) with R*Tree and FTS5 indexes."""

from eohub.catalogue.sqlite.backend import SQLiteCatalogue

__all__ = ["SQLiteCatalogue"]
