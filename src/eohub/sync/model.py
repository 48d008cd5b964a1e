"""Synchroniser definitions and their persistent state: plain values, no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SyncStatus(StrEnum):
    """Whether ``eohub sync run`` (and a serving hub) runs a synchroniser."""

    RUNNING = "running"
    PAUSED = "paused"


class SyncMode(StrEnum):
    """What a synchroniser copies: the catalogue entry only, or the product's bytes too."""

    METADATA = "metadata"  # catalogued offline, like DHuS CopyProduct=false
    COPY = "copy"  # bytes, quicklook and thumbnail stored in this hub's archive


class FilterLanguage(StrEnum):
    """Query languages a synchroniser filter may be written in."""

    ODATA = "odata"  # DHuS OData v1 $filter
    OPENSEARCH = "opensearch"  # DHuS q=
    CDSE = "cdse"  # CDSE OData $filter (sent as is to a CDSE-style source)


class SourceProtocol(StrEnum):
    """The API a synchroniser reads its sources with."""

    DHUS = "dhus"  # DHuS OData v1 JSON (another eohub's /odata/v1, any DHuS)
    CDSE = "cdse"  # CDSE-style OData (CDSE, another eohub's /catalogue/odata/v1)


class ValueServing(StrEnum):
    """How this hub answers ``$value`` for a product a metadata-only mirror catalogued."""

    NONE = "none"  # 404/offline, as for any product without bytes here
    REDIRECT = "redirect"  # 302 to the same product on the source
    PROXY = "proxy"  # stream the source's bytes through this hub


class VerifyMode(StrEnum):
    """Which checksums a copying synchroniser computes over the bytes it receives."""

    # MD5 and BLAKE3 computed here, each compared with the source's (when it lists it).
    ALL = "all"
    # Where the source lists both: BLAKE3 computed and compared (a stronger check than MD5),
    # the source's MD5 kept as it says; about a third of the CPU (MD5 is the slow one).
    # Else as ALL: a product is never stored without checksums computed or proven here.
    BLAKE3 = "blake3"


def protocol_of(url: str) -> SourceProtocol:
    """The protocol a source URL implies: ``.../catalogue/odata/v1`` is CDSE-style, else DHuS."""
    return (
        SourceProtocol.CDSE
        if url.rstrip("/").endswith("/catalogue/odata/v1")
        else SourceProtocol.DHUS
    )


@dataclass(frozen=True)
class SourceLogin:
    """The credentials of one source of a synchroniser, instead of the synchroniser's own:
    a user name and password (sent to the source, or to ``token_url``), or a token."""

    url: str
    username: str | None = None
    password: str | None = None
    token: str | None = None
    token_url: str | None = None

    def shown(self) -> SourceLogin:
        """The login as shown to people and programs: its password and token as SECRET."""
        return replace(self, password=masked(self.password), token=masked(self.token))

    def keeping(self, stored: Sequence[SourceLogin]) -> SourceLogin:
        """This login as given back, its SECRET password or token replaced by the one stored
        for its URL (none when the URL had no login)."""
        old = next((login for login in stored if login.url == self.url), None)
        return replace(
            self,
            password=(old.password if old else None) if self.password == SECRET else self.password,
            token=(old.token if old else None) if self.token == SECRET else self.token,
        )


SECRET = "***"
"""A stored password or token as shown; given back, it stands for the stored one."""


def masked(secret: str | None) -> str | None:
    """SECRET for a stored password or token, None for none."""
    return SECRET if secret else None


@dataclass(frozen=True)
class SyncDefinition:
    """What a synchroniser pulls, from where and how (set by ``eohub sync add``)."""

    label: str
    url: str  # the remote OData v1 service root, e.g. http://hub/odata/v1
    username: str | None = None
    password: str | None = None
    token: str | None = None  # bearer token, instead of a user name and password
    # An OpenID Connect token endpoint (CDSE's Keycloak): the user name and password get
    # access tokens there (password grant, renewed before they expire), sent as Bearer.
    token_url: str | None = None
    client_id: str = "cdse-public"  # the OpenID Connect client of the password grant
    mode: SyncMode = SyncMode.METADATA
    filter: str | None = None
    filter_language: FilterLanguage = FilterLanguage.ODATA
    geofilter: str | None = None  # "<op> <WKT>", op: intersects | within | contains
    collection: str | None = None  # only products of this remote collection
    page_size: int = 100
    streams: int = 4  # parallel downloads in copy mode
    quicklooks: bool = True  # copy quicklook and thumbnail (when the remote has them)
    deletions: bool = True  # apply the remote's DeletedProducts here
    schedule: str | None = None  # "5m", "1h", "90s", or cron text in UTC ("*/15 * * * *")
    protocol: SourceProtocol | None = None  # None: from the URL (see protocol_of)
    sources: tuple[str, ...] = ()  # more source URLs (same protocol and credentials)
    value: ValueServing = ValueServing.NONE  # metadata mode: how $value is served here
    # Failed runs of one product (transfer or checksum) before it goes on the skip list and
    # the cursor moves past it; 0: never (a failed product holds the synchroniser back).
    max_failures: int = 5
    # The sources' rolling window (ISO 8601 duration, e.g. P30D) for /api/hubs, where a
    # source does not report its own (DHuS, CDSE); None: not known.
    source_window: str | None = None
    # Sources whose credentials differ from the synchroniser's own (one per source URL).
    source_logins: tuple[SourceLogin, ...] = ()
    verify: VerifyMode = VerifyMode.ALL  # copy mode: the checksums computed on what arrives
    # Copy mode: the checksums of the files inside each copied zip, computed once it is stored
    # (one more read of its bytes), as ingest keeps them; else only `eohub fsck --repair` does.
    file_checksums: bool = False

    @property
    def urls(self) -> tuple[str, ...]:
        """Every source URL, the first one first."""
        return (self.url, *(u for u in self.sources if u != self.url))

    @property
    def source_protocol(self) -> SourceProtocol:
        """The protocol given, or the one the first URL implies."""
        return self.protocol or protocol_of(self.url)

    def pruned_logins(self) -> SyncDefinition:
        """The definition without the logins of URLs that are no longer its sources."""
        kept = tuple(login for login in self.source_logins if login.url in self.urls)
        return self if kept == self.source_logins else replace(self, source_logins=kept)

    def login_for(self, url: str) -> SourceLogin:
        """The credentials of one source: its own when given, else the synchroniser's."""
        for login in self.source_logins:
            if login.url == url:
                return login
        return SourceLogin(url, self.username, self.password, self.token, self.token_url)

    def protocol_for(self, url: str) -> SourceProtocol:
        """The protocol of one source: the one given, else the one its own URL implies (so a
        CDSE-style source can fail over to a DHuS one)."""
        return self.protocol or protocol_of(url)


@dataclass(frozen=True)
class Cursor:
    """Where a synchroniser stands in the remote's products (see :mod:`eohub.sync.runner`).

    ``time_ms``: every remote product whose CreationDate (in whole milliseconds, the precision
    of OData v1 JSON) is before it has been handled; None before the first page. ``bucket``
    says the products of the millisecond ``time_ms`` are being read by Id, and ``after_id``
    is the last Id handled in it.
    """

    time_ms: int | None = None
    bucket: bool = False
    after_id: str | None = None
    # A CDSE-style source: every product published before ``time_us`` (microseconds), and
    # those at ``time_us`` up to Id ``after_id``, have been handled.
    time_us: int | None = None

    @property
    def reached(self) -> datetime | None:
        """The publication time up to which the source has been read."""
        if self.time_us is not None:
            return _EPOCH + timedelta(microseconds=self.time_us)
        if self.time_ms is not None:
            return _EPOCH + timedelta(milliseconds=self.time_ms)
        return None


@dataclass(frozen=True)
class DeletedCursor:
    """Where a synchroniser stands in the remote's DeletedProducts: deletions before
    ``time_ms`` are applied, and the first ``skip`` of the millisecond ``time_ms`` too
    (CDSE-style: before ``time_us``, and at ``time_us`` up to Id ``after_id``)."""

    time_ms: int | None = None
    skip: int = 0
    time_us: int | None = None
    after_id: str | None = None


@dataclass(frozen=True)
class SourceState:
    """One source of a synchroniser: its own cursors (each hub publishes at its own times)
    and its measured record, which ranks the sources."""

    url: str
    cursor: Cursor = field(default_factory=Cursor)
    deleted_cursor: DeletedCursor = field(default_factory=DeletedCursor)
    successes: int = 0  # pages read without a remote failure
    failures: int = 0  # runs that failed on it (after retries) and moved to another source
    rate: float = 0.0  # products per second, smoothed over the runs
    last_error: str | None = None
    newest: datetime | None = None  # the newest publication seen there (for the lag)
    tier: int | None = None  # the tier an eohub source reports (GET /api/hubs), if any
    window: str | None = None  # the rolling window an eohub source reports there, if any

    @property
    def success_rate(self) -> float:
        """Laplace-smoothed: an untried source starts at 0.5."""
        return (self.successes + 1) / (self.successes + self.failures + 2)


@dataclass(frozen=True)
class SyncCounters:
    """What a synchroniser has done so far."""

    products: int = 0  # catalogued (new or updated)
    bytes: int = 0  # product bytes copied
    deleted: int = 0  # upstream deletions applied
    failures: int = 0  # products that failed after every retry


class FailureState(StrEnum):
    """Where a product whose transfer or verification failed stands."""

    FAILING = "failing"  # not past the cursor: the page holds it, the next run tries again
    SKIPPED = "skipped"  # on the skip list: failed too often, the cursor moved past it
    RETRY = "retry"  # taken off the skip list (``eohub sync retry``): each run tries it


@dataclass(frozen=True)
class FailedProduct:
    """A remote product a synchroniser could not store, with its record of failures."""

    product_id: uuid.UUID
    name: str
    failures: int  # failed runs (each after its retries) since it was last catalogued or retried
    state: FailureState
    last_error: str | None
    first_failed: datetime
    last_failed: datetime


@dataclass(frozen=True)
class Synchroniser:
    """One stored synchroniser: its definition, status and progress."""

    id: int
    definition: SyncDefinition
    status: SyncStatus = SyncStatus.RUNNING
    cursor: Cursor = field(default_factory=Cursor)
    deleted_cursor: DeletedCursor = field(default_factory=DeletedCursor)
    counters: SyncCounters = field(default_factory=SyncCounters)
    created: datetime | None = None
    last_run: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    # The remote CreationDate of the newest product handled: lag = remote now - this.
    last_remote_date: datetime | None = None
    sources: tuple[SourceState, ...] = ()  # measured per source URL
    source: str | None = None  # the source URL the last run used
    next_run: datetime | None = None  # when a serving hub runs it next
    last_rate: float = 0.0  # products per second of the last run that catalogued some
    skipped: int = 0  # products on the skip list

    @property
    def lag_seconds(self) -> float | None:
        """How far behind its source it is: the source's newest publication (checked after
        each run) minus the publication time our cursor has reached there; None before both
        are known."""
        state = self.source_state(self.source or self.definition.url)
        reached = state.cursor.reached
        if state.newest is None or reached is None:
            return None
        return max(0.0, (state.newest - reached).total_seconds())

    def source_state(self, url: str) -> SourceState:
        """The state of one source URL (fresh when never used)."""
        found = next((s for s in self.sources if s.url == url), None)
        if found is not None:
            return found
        if url == self.definition.url:  # progress stored before sources had their own
            return SourceState(url, self.cursor, self.deleted_cursor)
        return SourceState(url)

    def ranked_sources(self) -> list[str]:
        """The source URLs, best first: by success rate (in steps of 0.1, so one failure
        among many successes does not reorder), then by measured throughput, then as given."""
        urls = self.definition.urls

        def key(item: tuple[int, str]) -> tuple[float, float, int]:
            state = self.source_state(item[1])
            return (-round(state.success_rate, 1), -state.rate, item[0])

        return [url for _, url in sorted(enumerate(urls), key=key)]

    def evolve(self, **changes: object) -> Synchroniser:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
