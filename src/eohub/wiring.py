"""The composition root: the only module that knows the concrete backends."""

from __future__ import annotations

from dataclasses import dataclass

from eohub.catalogue.ports import CatalogueBackend
from eohub.catalogue.service import Catalogue
from eohub.config import Settings


def build_catalogue_backend(settings: Settings) -> CatalogueBackend:
    """PostGIS when a DSN is configured, else the embedded SQLite file."""
    if settings.catalogue.dsn is not None:
        from eohub.catalogue.postgis import PostgisCatalogue

        return PostgisCatalogue(
            settings.catalogue.dsn.get_secret_value(), pool_size=settings.catalogue.pool_size
        )
    from eohub.catalogue.sqlite import SQLiteCatalogue

    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteCatalogue(path, read_connections=settings.catalogue.read_connections)


@dataclass
class Hub:
    """Every service of a running hub, built from settings."""

    settings: Settings
    catalogue: Catalogue

    def close(self) -> None:
        """Release every resource."""
        self.catalogue.backend.close()


def build_hub(settings: Settings, *, migrate: bool = True) -> Hub:
    """Wire a hub; ``migrate`` brings the catalogue schema up to date first."""
    backend = build_catalogue_backend(settings)
    if migrate:
        backend.migrate()
    return Hub(settings=settings, catalogue=Catalogue(backend))
