"""The composition root: the only module that knows the concrete backends."""

from __future__ import annotations

from dataclasses import dataclass

from eohub.catalogue.ports import CatalogueBackend
from eohub.catalogue.service import Catalogue
from eohub.config import Settings
from eohub.ingest.pipeline import Ingestor
from eohub.storage.ports import ObjectStore


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


def build_store(settings: Settings) -> ObjectStore:
    """The archive: S3 when configured, else the local folder."""
    conf = settings.storage
    if conf.backend == "s3":
        from eohub.storage.s3 import S3Store

        if not conf.s3_bucket:
            raise ValueError("storage.s3_bucket must be set when storage.backend is 's3'")
        return S3Store(
            conf.s3_bucket,
            endpoint_url=conf.s3_endpoint_url,
            access_key=conf.s3_access_key,
            secret_key=conf.s3_secret_key.get_secret_value() if conf.s3_secret_key else None,
            region=conf.s3_region,
            prefix=conf.s3_prefix,
            create_bucket=True,
        )
    from eohub.storage.filesystem import FilesystemStore

    return FilesystemStore(settings.archive_path)


@dataclass
class Hub:
    """Every service of a running hub, built from settings."""

    settings: Settings
    catalogue: Catalogue
    store: ObjectStore

    def ingestor(self) -> Ingestor:
        """An ingest pipeline writing into this hub."""
        return Ingestor(self.catalogue, self.store, quarantine=self.settings.ingest.quarantine)

    def close(self) -> None:
        """Release every resource."""
        self.catalogue.backend.close()


def build_hub(settings: Settings, *, migrate: bool = True) -> Hub:
    """Wire a hub; ``migrate`` brings the catalogue schema up to date first."""
    backend = build_catalogue_backend(settings)
    if migrate:
        backend.migrate()
    return Hub(settings=settings, catalogue=Catalogue(backend), store=build_store(settings))
