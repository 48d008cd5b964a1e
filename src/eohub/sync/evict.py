"""The rolling archive: eviction policies applied to the archive, and each product's
EvictionDate.

Order of work per evicted product, so a crash never shows a product online without bytes:
- soft: the product is re-read, written back offline (``Online=false``, no archive key, new
  ModificationDate; metadata, quicklook and thumbnail kept), and only then are its bytes
  removed; a crash in between leaves orphan bytes that ``eohub fsck --repair`` removes;
- hard: the product is removed from the catalogue and recorded in the deleted products
  (cause ``AUTO_EVICTION (<policy>)``), then its bytes and previews are removed.

Products kept online until a date (retrieved on demand, see :mod:`eohub.sync.retrieve`) are
never evicted before it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eohub.catalogue.service import Catalogue
from eohub.errors import InvalidQuery, NotFound
from eohub.model.product import Product
from eohub.query.evaluate import matches
from eohub.query.query import ID_TIEBREAK, Cursor, Query, SortKey
from eohub.query.tree import Compare, CompareOp, Node, and_
from eohub.storage.errors import StorageError
from eohub.storage.ports import ObjectStore
from eohub.sync.archive_store import SqlArchiveStore
from eohub.sync.policy import EvictionPolicy, Order, check_policy

log = logging.getLogger("eohub.evict")

PAGE = 1000
MAX_PAGES = 10_000  # at most ten million products scanned by one policy run


def _now() -> datetime:
    return datetime.now(UTC)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _period(seconds: float) -> str:
    for unit, length in (("w", 604800), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length and seconds % length == 0:
            return f"{int(seconds // length)}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Eviction:
    """One product a policy evicts, and why."""

    product: Product
    reason: str


@dataclass
class EvictionReport:
    """What one policy run did (or, dry, would do)."""

    policy: str
    soft: bool
    dry_run: bool
    planned: list[Eviction] = field(default_factory=list)
    evicted: int = 0
    freed: int = 0
    errors: list[str] = field(default_factory=list)


def _due_at(policy: EvictionPolicy, created: datetime, last: datetime | None) -> datetime | None:
    """When the server runs ``policy`` next; None when it runs by hand (or its stored
    schedule no longer reads: it was checked when added)."""
    schedule = policy.schedule
    if schedule is None:
        return None
    try:
        return schedule.due_at(last, created)
    except InvalidQuery as exc:
        log.error("eviction policy %s: %s", policy.name, exc.user_message)
        return None


def _keys(product: Product) -> list[str]:
    return [k for k in (product.archive_key, product.quicklook_key, product.thumbnail_key) if k]


class Evictor:
    """The eviction policies of one hub: store them, plan and run them."""

    def __init__(
        self,
        store: SqlArchiveStore,
        catalogue: Catalogue,
        archive: ObjectStore,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.archive = archive
        self.clock = clock
        self.calendar = EvictionCalendar(store, clock=clock)
        self._lock = threading.Lock()  # one run at a time in this process

    # -- policies -------------------------------------------------------------------------------
    def add(self, policy: EvictionPolicy) -> EvictionPolicy:
        """Check and store a policy."""
        check_policy(policy, self.clock())
        self.store.add_policy(policy, self.clock())
        self.calendar.invalidate()
        return policy

    def policies(self) -> list[EvictionPolicy]:
        """Every policy, by name."""
        return [p for p, _ in self.store.policies()]

    def get(self, name: str) -> EvictionPolicy:
        """One policy by name."""
        for policy in self.policies():
            if policy.name == name:
                return policy
        raise NotFound(f"eviction policy '{name}' not found")

    def remove(self, name: str) -> None:
        """Forget a policy."""
        self.store.remove_policy(name)
        self.calendar.invalidate()

    # -- planning -------------------------------------------------------------------------------
    def _scan(self, node: Node, sort: SortKey) -> Iterator[Product]:
        after: Cursor | None = None
        for _ in range(MAX_PAGES):
            page = self.catalogue.search(
                Query(filter=node, sort=(sort, ID_TIEBREAK), limit=PAGE, after=after)
            )
            yield from page.items
            if page.next is None or not page.items:
                return
            after = page.next

    def plan(self, policy: EvictionPolicy) -> list[Eviction]:
        """The products a run of ``policy`` would evict now, in order, with the reasons."""
        now = self.clock()
        kept = self.store.kept(now)
        online = and_(policy.tree(now), Compare("online", CompareOp.EQ, True))
        cutoff = now - policy.keep if policy.keep is not None else None
        node = online
        if cutoff is not None:
            node = and_(online, Compare(policy.basis_field, CompareOp.LT, cutoff))
        sort = SortKey(policy.basis_field)
        candidates = [p for p in self._scan(node, sort) if p.archive_key and p.id not in kept]
        if policy.max_bytes is None:
            why = f"{policy.basis.value} date older than {_period(policy.keep_s or 0)}"
            ordered = self._ordered(policy, candidates)
            return [Eviction(p, why) for p in ordered[: policy.max_products]]
        total = sum(p.size for p in self._scan(online, sort) if p.archive_key)
        over = total - policy.max_bytes
        if over <= 0:
            return []
        chosen: list[Eviction] = []
        freed = 0
        for product in self._ordered(policy, candidates):
            if freed >= over or len(chosen) >= policy.max_products:
                break
            freed += product.size
            why = (f"over the byte budget ({_size(total)} of {_size(policy.max_bytes)}), "
                   f"{policy.order.value.upper()}")  # fmt: skip
            if cutoff is not None:
                why += f", {policy.basis.value} date older than {_period(policy.keep_s or 0)}"
            chosen.append(Eviction(product, why))
        return chosen

    def _ordered(self, policy: EvictionPolicy, products: list[Product]) -> list[Product]:
        """FIFO: by basis date (the scan's order); LRU: by last download, a product never
        downloaded counting from its basis date."""
        if policy.order is Order.FIFO:
            return products
        last = self.store.last_downloads(p.id for p in products)

        def used(product: Product) -> tuple[datetime, uuid.UUID]:
            basis: datetime = getattr(product, policy.basis_field)
            seen = last.get(product.id)
            return (max(seen, basis) if seen else basis), product.id

        return sorted(products, key=used)

    # -- running --------------------------------------------------------------------------------
    def run(self, name: str | None = None, *, dry_run: bool = False) -> list[EvictionReport]:
        """Run one policy, or every policy (in name order); ``dry_run`` changes nothing."""
        policies = [self.get(name)] if name is not None else self.policies()
        return [self.run_policy(p, dry_run=dry_run) for p in policies]

    def planned_runs(self) -> dict[str, datetime | None]:
        """When the server runs each policy next (None: by hand): the first slot of its
        schedule after its last run (a cron policy that never ran: after its creation; an
        interval one: at once)."""
        return {p.name: _due_at(p, created, last) for p, created, last in self.store.policy_runs()}

    def run_due(self) -> list[EvictionReport]:
        """Run the scheduled policies whose next run has come (the server's background
        worker calls this every few seconds). A policy whose slots passed while the hub was
        down runs once; its next run is then the first slot after that run."""
        now = self.clock()
        reports = []
        for policy, created, last in self.store.policy_runs():
            due = _due_at(policy, created, last)
            if due is not None and due <= now:
                reports.append(self.run_policy(policy))
        return reports

    def run_policy(self, policy: EvictionPolicy, *, dry_run: bool = False) -> EvictionReport:
        """Plan ``policy`` and, unless ``dry_run``, evict what it selects."""
        with self._lock:
            started = time.monotonic()
            report = EvictionReport(policy.name, policy.soft, dry_run, self.plan(policy))
            if dry_run:
                return report
            for item in report.planned:
                try:
                    freed = self._evict(policy, item.product)
                except (StorageError, OSError) as exc:
                    report.errors.append(f"{item.product.name}: {exc}")
                    continue
                if freed is not None:
                    report.evicted += 1
                    report.freed += freed
            self.store.policy_ran(policy.name, self.clock())
            log.info("eviction %s: %d products, %s freed in %.1fs", policy.name,
                     report.evicted, _size(report.freed), time.monotonic() - started)  # fmt: skip
            return report

    def _evict(self, policy: EvictionPolicy, planned: Product) -> int | None:
        """Evict one product; the bytes freed, None when it changed since it was planned."""
        try:
            product = self.catalogue.get(planned.id)
        except NotFound:
            return None
        key = product.archive_key
        if not product.online or key is None or key != planned.archive_key:
            return None
        if policy.soft:
            # Offline first: a crash before the delete leaves orphan bytes, never an online
            # product without bytes.
            self.catalogue.upsert(
                [product.evolve(online=False, archive_key=None, modification_date=self.clock())]
            )
            self._delete([key])
        else:
            removed = self.catalogue.delete(product.id, cause=f"AUTO_EVICTION ({policy.name})")
            if removed is None:
                return None
            self._delete(_keys(removed.product))
        return product.size

    def _delete(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self.archive.delete(key)
            except StorageError as exc:  # fsck reports what is left behind
                log.warning("could not remove %s from the archive: %s", key, exc)


class EvictionCalendar:
    """Each product's EvictionDate: the earliest date a keep-period policy whose filter it
    matches would evict it (basis date + keep period), not before the date it is kept online
    until; None ("never") when no such policy applies or the product is offline.

    Policies and keep dates are read once per ``ttl_s`` (and at once after a change made
    through this process), so rendering a page of products costs no query per product.
    """

    def __init__(
        self,
        store: SqlArchiveStore,
        *,
        clock: Callable[[], datetime] = _now,
        ttl_s: float = 30.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self._policies: list[tuple[EvictionPolicy, Node]] = []
        self._kept: dict[uuid.UUID, datetime] = {}

    def invalidate(self) -> None:
        """Read policies and keep dates again at the next use."""
        with self._lock:
            self._loaded_at = None

    def _load(self) -> tuple[list[tuple[EvictionPolicy, Node]], dict[uuid.UUID, datetime]]:
        with self._lock:
            now = time.monotonic()
            if self._loaded_at is None or now - self._loaded_at > self.ttl_s:
                when = self.clock()
                self._policies = [
                    (p, p.tree(when)) for p, _ in self.store.policies() if p.keep is not None
                ]
                self._kept = self.store.kept(when)
                self._loaded_at = now
            return self._policies, self._kept

    def active(self) -> bool:
        """Whether any keep-period policy exists (else every EvictionDate is never)."""
        return bool(self._load()[0])

    def __call__(self, product: Product) -> datetime | None:
        """The product's EvictionDate, or None for never."""
        if not (product.online and product.archive_key):
            return None
        policies, kept = self._load()
        dates = [
            getattr(product, p.basis_field) + p.keep
            for p, tree in policies
            if p.keep is not None and matches(tree, product)
        ]
        if not dates:
            return None
        found: datetime = min(dates)
        until = kept.get(product.id)
        return max(found, until) if until is not None else found
