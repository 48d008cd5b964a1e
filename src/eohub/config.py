"""Settings: pydantic-settings, ``EOHUB_`` prefix, nested sections and an optional TOML file.

Precedence (highest first): explicit overrides, environment (``EOHUB_DATA_DIR``,
``EOHUB_CATALOGUE__DSN``...), the TOML file (``--config`` or ``EOHUB_CONFIG``), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path("eohub-data")


class CatalogueSettings(BaseModel):
    """Where the catalogue lives: SQLite (default) or PostgreSQL + PostGIS when ``dsn`` is set."""

    model_config = ConfigDict(extra="forbid")

    dsn: SecretStr | None = Field(
        default=None, description="PostgreSQL DSN; when set, PostGIS is the catalogue backend"
    )
    sqlite_path: Path | None = Field(
        default=None, description="SQLite file (default: <data_dir>/catalogue.sqlite)"
    )
    read_connections: int = Field(default=4, ge=1, le=64, description="SQLite read pool size")
    pool_size: int = Field(default=8, ge=1, le=256, description="PostgreSQL pool size")


class StorageSettings(BaseModel):
    """The archive: a local directory (default) or an S3-compatible object store."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["filesystem", "s3"] = "filesystem"
    path: Path | None = Field(
        default=None, description="archive folder (default <data_dir>/archive)"
    )
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = ""


class IngestSettings(BaseModel):
    """Ingestion."""

    model_config = ConfigDict(extra="forbid")

    quarantine: Path | None = Field(
        default=None, description="folder where rejected inputs are moved (unset: left in place)"
    )


class ServerSettings(BaseModel):
    """The HTTP server."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    public_url: str | None = Field(default=None, description="base URL shown in links")
    accel_redirect_prefix: str | None = Field(
        default=None,
        description="nginx internal location serving the local archive (X-Accel-Redirect)",
    )


class Settings(BaseSettings):
    """Every setting of a hub."""

    model_config = SettingsConfigDict(
        env_prefix="EOHUB_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="where the hub keeps its data")
    catalogue: CatalogueSettings = Field(default_factory=CatalogueSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides, then environment, then the TOML file named by ``EOHUB_CONFIG``."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("EOHUB_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    # Derived paths ----------------------------------------------------------------------------
    @property
    def sqlite_path(self) -> Path:
        """The SQLite catalogue file."""
        return self.catalogue.sqlite_path or self.data_dir / "catalogue.sqlite"

    @property
    def archive_path(self) -> Path:
        """The local archive folder."""
        return self.storage.path or self.data_dir / "archive"

    def public_dict(self) -> dict[str, Any]:
        """Settings as plain data with secrets masked (for ``eohub config show``)."""
        return self.model_dump(mode="json")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings; ``config_file`` (a TOML file) takes the place of ``EOHUB_CONFIG``."""
    if config_file is not None:
        if not config_file.is_file():
            raise FileNotFoundError(f"configuration file not found: {config_file}")
        os.environ["EOHUB_CONFIG"] = str(config_file)
    return Settings(**overrides)
