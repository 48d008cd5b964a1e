"""Synchroniser definitions and their persistent state: plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


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


@dataclass(frozen=True)
class SyncDefinition:
    """What a synchroniser pulls, from where and how (set by ``eohub sync add``)."""

    label: str
    url: str  # the remote OData v1 service root, e.g. http://hub/odata/v1
    username: str | None = None
    password: str | None = None
    token: str | None = None  # bearer token, instead of a user name and password
    mode: SyncMode = SyncMode.METADATA
    filter: str | None = None
    filter_language: FilterLanguage = FilterLanguage.ODATA
    geofilter: str | None = None  # "<op> <WKT>", op: intersects | within | contains
    collection: str | None = None  # only products of this remote collection
    page_size: int = 100
    streams: int = 4  # parallel downloads in copy mode
    quicklooks: bool = True  # copy quicklook and thumbnail (when the remote has them)
    deletions: bool = True  # apply the remote's DeletedProducts here
    schedule: str | None = None  # cron text, kept for the scheduler of a serving hub


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


@dataclass(frozen=True)
class DeletedCursor:
    """Where a synchroniser stands in the remote's DeletedProducts: deletions before
    ``time_ms`` are applied, and the first ``skip`` of the millisecond ``time_ms`` too."""

    time_ms: int | None = None
    skip: int = 0


@dataclass(frozen=True)
class SyncCounters:
    """What a synchroniser has done so far."""

    products: int = 0  # catalogued (new or updated)
    bytes: int = 0  # product bytes copied
    deleted: int = 0  # upstream deletions applied
    failures: int = 0  # products that failed after every retry


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

    def evolve(self, **changes: object) -> Synchroniser:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
