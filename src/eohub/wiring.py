"""The composition root: the only module that knows the concrete backends."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

from eohub.auth import Accounts, AccountStore, DownloadGate, LoginPolicy
from eohub.auth.apikeys import ApiKeys
from eohub.auth.passwords import Passwords
from eohub.auth.stores.sql import SqlAccountStore
from eohub.auth.stores.tokens import SqlTokenStore
from eohub.auth.tokens import TokenPolicy, Tokens
from eohub.catalogue.ports import CatalogueBackend
from eohub.catalogue.service import Catalogue
from eohub.config import Settings
from eohub.errors import Conflict
from eohub.ingest.pipeline import Ingestor
from eohub.mail import Mailer
from eohub.model.documents import DocumentKind
from eohub.model.user import Quota
from eohub.protocols.csc.entities import S3Paths, product_document_kind
from eohub.protocols.csc.filter import parse_filter
from eohub.protocols.dhus.opensearch_json import ENTRY_DOCUMENT
from eohub.protocols.stac.items import ITEM_DOCUMENT
from eohub.storage.ports import ObjectStore
from eohub.subscriptions import Limits, Subscriptions
from eohub.subscriptions.push import Pusher
from eohub.subscriptions.store import USER_TABLES as SUBSCRIPTION_USER_TABLES
from eohub.subscriptions.store import SqlSubscriptionStore
from eohub.subscriptions.worker import FeedWorker, Pruner
from eohub.sync import SqlSyncStore, SyncService
from eohub.sync.archive_store import SqlArchiveStore
from eohub.sync.evict import Evictor
from eohub.sync.retrieve import Retrievals, Source
from eohub.sync.runner import default_remote
from eohub.workspace import SearchNotifier, Workspace
from eohub.workspace.notify import FeedNotifications
from eohub.workspace.store import SqlWorkspaceStore

log = logging.getLogger("eohub")


def s3_paths(settings: Settings) -> S3Paths | None:
    """Where archive objects are in S3 (the CDSE ``S3Path``), None with the local folder."""
    conf = settings.storage
    if conf.backend != "s3" or not conf.s3_bucket:
        return None
    prefix = conf.s3_prefix.strip("/")
    return S3Paths(conf.s3_bucket, prefix + "/" if prefix else "")


def documents(settings: Settings) -> tuple[DocumentKind, ...]:
    """Product documents the catalogue keeps rendered (see eohub.model.documents): the CDSE
    OData entity, which harvests read by the million (with the archive's S3Path in it), the
    DHuS OpenSearch JSON entry, which scripts read 100 at a time, and the STAC Item."""
    return (product_document_kind(s3_paths(settings)), ENTRY_DOCUMENT, ITEM_DOCUMENT)


def build_catalogue_backend(settings: Settings) -> CatalogueBackend:
    """PostGIS when a DSN is configured, else the embedded SQLite file."""
    if settings.catalogue.dsn is not None:
        from eohub.catalogue.postgis import PostgisCatalogue

        return PostgisCatalogue(
            settings.catalogue.dsn.get_secret_value(),
            pool_size=settings.catalogue.pool_size,
            documents=documents(settings),
        )
    from eohub.catalogue.sqlite import SQLiteCatalogue

    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteCatalogue(
        path,
        read_connections=settings.catalogue.read_connections,
        documents=documents(settings),
        memory_index=settings.catalogue.memory_index,
    )


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


def build_account_store(settings: Settings) -> AccountStore:
    """Accounts in the PostgreSQL catalogue database when there is one, else an SQLite file."""
    if settings.catalogue.dsn is not None:
        from eohub.auth.stores.postgres import PostgresAccountStore

        return PostgresAccountStore(settings.catalogue.dsn.get_secret_value())
    from eohub.auth.stores.sqlite import SQLiteAccountStore

    path = settings.accounts_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteAccountStore(path)


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when a server is configured, else the outbox folder."""
    conf = settings.mail
    if conf.smtp_host:
        from eohub.mail.smtp import SmtpMailer

        password = conf.smtp_password.get_secret_value() if conf.smtp_password else None
        return SmtpMailer(
            conf.smtp_host,
            conf.smtp_port,
            conf.sender,
            username=conf.smtp_username,
            password=password,
            starttls=conf.smtp_starttls,
            timeout_s=conf.smtp_timeout_s,
        )
    from eohub.mail.outbox import OutboxMailer

    return OutboxMailer(settings.outbox_path, conf.sender)


def build_accounts(settings: Settings, store: AccountStore) -> Accounts:
    """The account service with the configured login policy."""
    conf = settings.auth
    return Accounts(
        store,
        passwords=Passwords(cache_s=conf.password_cache_s),
        policy=LoginPolicy(
            max_failures=conf.max_failed_logins,
            base_delay_s=conf.failed_login_delay_s,
            max_delay_s=conf.failed_login_max_delay_s,
        ),
    )


def build_download_gate(settings: Settings, store: AccountStore) -> DownloadGate:
    """Download quotas with the configured defaults."""
    q = settings.auth.quota
    defaults = Quota(
        max_concurrent=q.max_concurrent,
        max_count=q.max_count,
        max_volume=q.max_volume,
        max_size=q.max_size,
        max_bandwidth=q.max_bandwidth,
        period_s=q.period_s,
    )
    return DownloadGate(store, defaults)


def build_tokens(settings: Settings, store: AccountStore, accounts: Accounts) -> Tokens:
    """OpenID Connect tokens and API keys, with their tables in the account database."""
    if not isinstance(store, SqlAccountStore):
        raise TypeError("tokens keep their tables in the SQL account database")
    conf = settings.auth.tokens
    token_store = SqlTokenStore(store)
    policy = TokenPolicy(
        access_lifetime=timedelta(seconds=conf.access_lifetime_s),
        refresh_lifetime=timedelta(seconds=conf.refresh_lifetime_s),
        session_max=timedelta(seconds=conf.session_max_s),
        audiences=tuple(conf.audiences),
        clients=frozenset(conf.clients),
    )
    api_keys = ApiKeys(token_store, max_keys=conf.api_key_max)
    return Tokens(token_store, accounts, api_keys, policy=policy)


def portal_url(settings: Settings) -> str:
    """The portal's base URL for links outside a request (mails): the public URL when set."""
    server = settings.server
    return (server.public_url or f"http://{server.host}:{server.port}").rstrip("/")


def build_workspace(
    settings: Settings, account_store: AccountStore, catalogue: Catalogue, mailer: Mailer
) -> Workspace:
    """Carts and saved searches in the account database (their mails: ``build_worker``)."""
    if not isinstance(account_store, SqlAccountStore):
        raise TypeError("the workspace keeps its tables in the SQL account database")
    store = SqlWorkspaceStore(account_store.connect, account_store.dialect)
    return Workspace(store, catalogue)


def build_subscriptions(
    settings: Settings, account_store: AccountStore, catalogue: Catalogue
) -> Subscriptions:
    """Catalogue subscriptions, with their tables in the account database."""
    if not isinstance(account_store, SqlAccountStore):
        raise TypeError("subscriptions keep their tables in the SQL account database")
    conf = settings.subscriptions
    store = SqlSubscriptionStore(account_store.connect, account_store.dialect)
    account_store.add_user_data(*SUBSCRIPTION_USER_TABLES)  # removing a user ends theirs
    limits = Limits(max_running=conf.max_running, max_total=conf.max_total, max_top=conf.max_top)
    return Subscriptions(store, catalogue, parse_filter, limits=limits)


def build_worker(
    settings: Settings, subscriptions: Subscriptions, workspace: Workspace, mailer: Mailer
) -> FeedWorker:
    """The server's background worker: push deliveries, saved-search mails (both from the
    change feed) and pruning the feed."""
    conf = settings.subscriptions
    catalogue = subscriptions.catalogue
    worker = FeedWorker(interval_s=conf.poll_interval_s)
    pusher = Pusher(
        subscriptions,
        f"{portal_url(settings)}/catalogue/odata/v1",
        s3=s3_paths(settings),
        attempts=conf.push_attempts,
        backoff_s=conf.push_backoff_s,
        timeout_s=conf.push_timeout_s,
        wait=worker.wait,
    )
    notifier = SearchNotifier(workspace.store, mailer, portal_url=portal_url(settings))
    mails = FeedNotifications(notifier, catalogue, subscriptions.store)
    worker.steps += [
        ("push", pusher.run_once),
        ("saved-search mails", mails.run_once),
        ("prune", Pruner(catalogue, settings.catalogue.change_retention_days)),
    ]
    return worker


def build_offline(
    settings: Settings,
    account_store: AccountStore,
    catalogue: Catalogue,
    store: ObjectStore,
    mailer: Mailer,
    *,
    migrate: bool = True,
) -> tuple[Evictor, Retrievals]:
    """The rolling archive: eviction policies and on-demand retrievals, with their tables
    in the account database; the sources are the configured ones, then the synchronisers'."""
    if not isinstance(account_store, SqlAccountStore):
        raise TypeError("the rolling archive keeps its tables in the SQL account database")
    archive_store = SqlArchiveStore(account_store.connect, account_store.dialect)
    sync_store = SqlSyncStore(account_store.connect, account_store.dialect)
    if migrate:
        archive_store.migrate()
        sync_store.migrate()
    conf = settings.retrieval

    timeout = settings.sync.timeout_s

    def sources() -> list[Source]:
        found = [
            Source(s.label or s.url, s.url, s.username,
                   s.password.get_secret_value() if s.password else None,
                   s.token.get_secret_value() if s.token else None, timeout=timeout)
            for s in conf.sources
        ]  # fmt: skip
        if conf.from_synchronisers:
            found += [
                Source(d.label, url, login.username, login.password, login.token,
                       timeout=timeout, token_url=login.token_url, client_id=d.client_id,
                       protocol=d.protocol_for(url))
                for d in (sync.definition for sync in sync_store.list())
                for url in d.urls
                for login in (d.login_for(url),)
            ]  # fmt: skip
        return found

    def email_of(username: str) -> str | None:
        account = account_store.get(username)
        return account.user.email if account is not None else None

    evictor = Evictor(archive_store, catalogue, store)
    retrievals = Retrievals(
        archive_store, catalogue, store, sources,
        mailer=mailer, email_of=email_of, portal_url=portal_url(settings),
        max_pending=conf.max_pending_per_user, keep=timedelta(days=conf.keep_days),
        attempts=conf.attempts, per_round=conf.per_round,
        on_change=evictor.calendar.invalidate,
    )  # fmt: skip
    return evictor, retrievals


@dataclass
class Hub:
    """Every service of a running hub, built from settings."""

    settings: Settings
    catalogue: Catalogue
    store: ObjectStore
    accounts: Accounts
    downloads: DownloadGate
    mailer: Mailer
    workspace: Workspace
    tokens: Tokens
    subscriptions: Subscriptions
    worker: FeedWorker
    evictor: Evictor | None = None  # the rolling archive's eviction policies
    retrievals: Retrievals | None = None  # offline products retrieved on demand

    @property
    def api_keys(self) -> ApiKeys:
        """Personal API keys."""
        return self.tokens.api_keys

    def ingestor(self) -> Ingestor:
        """An ingest pipeline writing into this hub."""
        return Ingestor(self.catalogue, self.store, quarantine=self.settings.ingest.quarantine)

    def close(self) -> None:
        """Release every resource."""
        self.worker.stop()
        self.catalogue.backend.close()
        self.accounts.store.close()


def build_hub(settings: Settings, *, migrate: bool = True) -> Hub:
    """Wire a hub; ``migrate`` brings the catalogue schema up to date first."""
    backend = build_catalogue_backend(settings)
    account_store = build_account_store(settings)
    if migrate:
        backend.migrate()
        account_store.migrate()
    catalogue = Catalogue(backend)
    mailer = build_mailer(settings)
    accounts = build_accounts(settings, account_store)
    workspace = build_workspace(settings, account_store, catalogue, mailer)
    subscriptions = build_subscriptions(settings, account_store, catalogue)
    if migrate:
        subscriptions.store.migrate()
        # The saved-search cursor starts here, so products written from now on are mailed.
        subscriptions.store.cursor(FeedNotifications.CURSOR, catalogue.change_head)
    store = build_store(settings)
    evictor, retrievals = build_offline(
        settings, account_store, catalogue, store, mailer, migrate=migrate
    )
    worker = build_worker(settings, subscriptions, workspace, mailer)
    worker.steps += [("evictions", evictor.run_due), ("retrievals", retrievals.run_once)]
    return Hub(
        settings=settings,
        catalogue=catalogue,
        store=store,
        accounts=accounts,
        downloads=build_download_gate(settings, account_store),
        mailer=mailer,
        workspace=workspace,
        tokens=build_tokens(settings, account_store, accounts),
        subscriptions=subscriptions,
        worker=worker,
        evictor=evictor,
        retrievals=retrievals,
    )


def bootstrap_administrator(hub: Hub) -> None:
    """Create the configured administrator on first start (every role on each start).

    A generated first password is written to ``<data_dir>/admin-password`` (mode 600), never
    to the log.
    """
    conf = hub.settings.auth
    password = conf.admin_password.get_secret_value() if conf.admin_password else None
    try:
        generated = hub.accounts.ensure_administrator(conf.admin_username, password)
    except Conflict:  # another server process created it at the same moment
        return
    if generated is None:
        return
    path = hub.settings.data_dir / "admin-password"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(generated + "\n")
    log.warning(
        "created administrator %r with a generated password, written to %s",
        conf.admin_username,
        path,
    )


def build_sync(hub: Hub, *, migrate: bool = True) -> SyncService:
    """The hub's synchronisers, with their table in the account database."""
    account_store = hub.accounts.store
    if not isinstance(account_store, SqlAccountStore):
        raise TypeError("synchronisers keep their table in the SQL account database")
    store = SqlSyncStore(account_store.connect, account_store.dialect)
    if migrate:
        store.migrate()
    timeout = hub.settings.sync.timeout_s
    return SyncService(
        store, hub.catalogue, hub.store, downloads=hub.settings.downloads_path,
        remote_factory=lambda sync: default_remote(sync, timeout=timeout),
    )  # fmt: skip
