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
    memory_index: bool = Field(
        default=True,
        description="SQLite: keep the search columns of every product in memory (about 600"
        " bytes a product in each server process) for area, time and category searches",
    )
    pool_size: int = Field(default=8, ge=1, le=256, description="PostgreSQL pool size")
    change_retention_days: int = Field(
        default=365, ge=0, description="days the change feed keeps its events; 0: forever"
    )


class SubscriptionSettings(BaseModel):
    """Catalogue subscriptions (CDSE ``/odata/v1/Subscriptions``) and their push delivery."""

    model_config = ConfigDict(extra="forbid")

    max_running: int = Field(default=10, ge=1, description="running subscriptions per user")
    max_total: int = Field(default=50, ge=1, description="subscriptions per user (any status)")
    max_top: int = Field(default=1000, ge=1, le=10000, description="largest $top of a Read")
    push_attempts: int = Field(default=5, ge=1, le=20, description="tries of one push delivery")
    push_backoff_s: float = Field(
        default=1.0, gt=0, description="wait before the second try; doubles with each try"
    )
    push_timeout_s: float = Field(default=10.0, gt=0, description="timeout of one push request")
    poll_interval_s: float = Field(
        default=2.0, gt=0, description="how often the background worker looks for new events"
    )


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
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host headers the server answers (empty: any); guards mailed links",
    )
    accel_redirect_prefix: str | None = Field(
        default=None,
        description="nginx internal location serving the local archive (X-Accel-Redirect)",
    )


class QuotaSettings(BaseModel):
    """Default download limits of every user (a user's own limits override them)."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent: int | None = Field(
        default=4, ge=1, description="downloads at once per user and server process"
    )
    max_count: int | None = Field(default=None, ge=1, description="downloads per period")
    max_volume: int | None = Field(default=None, ge=1, description="bytes per period")
    max_size: int | None = Field(default=None, ge=1, description="largest single download")
    max_bandwidth: int | None = Field(
        default=None, ge=1024, description="bytes per second of one download"
    )
    period_s: int = Field(default=86_400, ge=1, description="sliding window of count and volume")


class TokenSettings(BaseModel):
    """OpenID Connect tokens (a Keycloak-compatible token endpoint) and personal API keys."""

    model_config = ConfigDict(extra="forbid")

    realms: list[str] = Field(
        default_factory=lambda: ["eohub", "CDSE"],
        min_length=1,
        description="realms served at /auth/realms/<realm>; the first is announced",
    )
    clients: list[str] = Field(
        default_factory=lambda: ["eohub", "cdse-public"],
        description="client_id values the password grant accepts (empty: any)",
    )
    audiences: list[str] = Field(
        default_factory=lambda: ["account", "CLOUDFERRO_PUBLIC"],
        min_length=1,
        description="the tokens' aud claim (clients that pin CDSE's audience keep working)",
    )
    access_lifetime_s: int = Field(default=600, ge=1, description="access token lifetime")
    refresh_lifetime_s: int = Field(default=3600, ge=1, description="refresh token lifetime")
    session_max_s: int = Field(
        default=36_000, ge=1, description="longest chain of refreshes after one password grant"
    )
    api_key_max: int = Field(default=20, ge=1, description="API keys per user")


class AuthSettings(BaseModel):
    """Accounts, logins and access rules."""

    model_config = ConfigDict(extra="forbid")

    admin_username: str = Field(
        default="root", description="administrator created on first start with every role"
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="its first password (unset: generated, written to <data_dir>/admin-password)",
    )
    anonymous_search: bool = Field(
        default=True, description="search and metadata without credentials"
    )
    anonymous_download: bool = Field(
        default=False, description="product downloads without credentials"
    )
    sqlite_path: Path | None = Field(
        default=None, description="account file (default <data_dir>/accounts.sqlite)"
    )
    realm: str = Field(default="eohub", description="realm of the HTTP Basic challenge")
    max_failed_logins: int = Field(
        default=5, ge=1, description="consecutive failures before logins are throttled"
    )
    failed_login_delay_s: int = Field(
        default=30, ge=1, description="first wait once throttled; doubles with each failure"
    )
    failed_login_max_delay_s: int = Field(default=900, ge=1, description="longest wait")
    password_cache_s: float = Field(
        default=300, ge=0, description="how long a verified password is remembered in memory"
    )
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)


class MailSettings(BaseModel):
    """Outgoing mail (account confirmation, password reset, saved-search notifications)."""

    model_config = ConfigDict(extra="forbid")

    smtp_host: str | None = Field(
        default=None, description="SMTP server; unset: mails are written to the outbox folder"
    )
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=False, description="upgrade the connection with STARTTLS")
    smtp_timeout_s: float = Field(default=20, gt=0)
    sender: str = Field(default="eohub <noreply@localhost>", description="From: address")
    outbox: Path | None = Field(
        default=None, description="folder of written mails (default <data_dir>/outbox)"
    )


class RetrievalSourceSettings(BaseModel):
    """A hub offline products may be retrieved from (its DHuS OData v1 service, or a
    CDSE-style one)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        description="the hub's base URL or its /odata/v1 root (DHuS OData v1), or a "
        "/catalogue/odata/v1 root (CDSE-style)"
    )
    label: str | None = Field(default=None, description="name shown in logs (default: the URL)")
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = Field(default=None, description="bearer token instead of a password")


class RetrievalSettings(BaseModel):
    """Offline products retrieved on demand (rolling archive: see docs/mirroring.md)."""

    model_config = ConfigDict(extra="forbid")

    sources: list[RetrievalSourceSettings] = Field(
        default_factory=list, description="hubs asked for offline products, in order"
    )
    from_synchronisers: bool = Field(
        default=True, description="the synchronisers' remote hubs are sources too (after these)"
    )
    max_pending_per_user: int = Field(
        default=20, ge=1, description="retrievals a user may wait for at once (then 403)"
    )
    keep_days: float = Field(
        default=3, ge=0, description="a retrieved product stays online at least this long"
    )
    attempts: int = Field(
        default=3, ge=1, le=100, description="rounds of tries before a retrieval is failed"
    )
    per_round: int = Field(
        default=4, ge=1, le=100, description="products the background worker fetches per round"
    )


class SyncSettings(BaseModel):
    """Synchronisers (mirroring: see docs/mirroring.md)."""

    model_config = ConfigDict(extra="forbid")

    downloads: Path | None = Field(
        default=None,
        description="folder of copy synchronisers' partial downloads (default "
        "<data_dir>/sync-downloads); on the archive's file system a complete download is "
        "moved into the archive, not copied",
    )
    stale_download_hours: float = Field(
        default=72, gt=0, description="eohub fsck --repair removes partial downloads older"
    )
    timeout_s: float = Field(
        default=60.0, gt=0, le=3600,
        description="seconds a request of a synchroniser or a retrieval waits for the remote "
        "hub's answer (or the next bytes of a download); connecting waits at most 10 s",
    )  # fmt: skip


class PortalSettings(BaseModel):
    """The web portal at ``/``."""

    model_config = ConfigDict(extra="forbid")

    tile_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="base-map tiles; empty: only the built-in country outlines",
    )
    tile_attribution: str = Field(
        default="&copy; OpenStreetMap contributors", description="credit shown on the map"
    )
    signup: bool = Field(default=True, description="visitors may create accounts")
    session_days: int = Field(default=14, ge=1, le=365, description="login session lifetime")
    secure_cookies: bool = Field(
        default=False, description="send cookies over HTTPS only (set behind an HTTPS proxy)"
    )
    unconfirmed_days: int = Field(
        default=10, ge=1, description="unconfirmed accounts are removed after this many days"
    )
    link_hours: int = Field(
        default=48, ge=1, description="confirmation and password-reset links expire after"
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
    auth: AuthSettings = Field(default_factory=AuthSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    subscriptions: SubscriptionSettings = Field(default_factory=SubscriptionSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)

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
    def accounts_path(self) -> Path:
        """The SQLite account file (used when the catalogue is SQLite)."""
        return self.auth.sqlite_path or self.data_dir / "accounts.sqlite"

    @property
    def outbox_path(self) -> Path:
        """Where mails go when no SMTP server is configured."""
        return self.mail.outbox or self.data_dir / "outbox"

    @property
    def archive_path(self) -> Path:
        """The local archive folder."""
        return self.storage.path or self.data_dir / "archive"

    @property
    def downloads_path(self) -> Path:
        """The copy synchronisers' partial downloads (a folder per synchroniser)."""
        return self.sync.downloads or self.data_dir / "sync-downloads"

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
