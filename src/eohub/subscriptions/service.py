"""The subscription service: create, list, change and delete subscriptions; Read and Ack.

There is no queue per subscription: a subscription is a filter, a list of event kinds and a
cursor into the catalogue's change feed. A Read walks the feed after the cursor and keeps the
events of the subscribed kinds whose product matches the filter (the reference evaluator,
``eohub.query.evaluate``), building each payload from the catalogue at that moment; so nothing
is capped and no payload expires while the feed keeps the event. Ack moves the cursor.

A Read also moves the cursor over the events before its first notification that can never be
delivered (another kind, or not matching): the client could not see them anyway, and a
selective filter then does not rescan the same stretch of feed on every Read.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from eohub.catalogue.service import Catalogue
from eohub.errors import Conflict, InvalidQuery, NotFound
from eohub.model.change import Change, ChangeEvent
from eohub.query.evaluate import matches
from eohub.query.normalize import normalize_filter
from eohub.query.tree import Node
from eohub.subscriptions.model import (
    AckResult,
    Limits,
    NewSubscription,
    Notification,
    Subscription,
    SubscriptionChanges,
    SubscriptionStatus,
)
from eohub.subscriptions.store import SqlSubscriptionStore

log = logging.getLogger("eohub.subscriptions")

FilterParser = Callable[[str], Node]
_PAGE = 500  # feed events read (and products fetched) per step of a walk
MAX_FILTER_LENGTH = 20_000


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Walk:
    """What one walk over the feed found: notifications, and how far the feed was read."""

    found: list[Notification]
    skip_to: int  # every event up to here, before the first notification, cannot be delivered
    scanned_to: int  # the last event looked at


class Subscriptions:
    """Subscriptions of users to catalogue events (framework-free; the API maps errors).

    ``parse`` turns a CDSE ``$filter`` into the query tree (InvalidQuery when it cannot).
    """

    def __init__(
        self,
        store: SqlSubscriptionStore,
        catalogue: Catalogue,
        parse: FilterParser,
        *,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.parse = parse
        self.limits = limits or Limits()
        self.clock = clock
        self._filters: dict[str, Node] = {}
        self._lock = threading.Lock()

    # -- management ----------------------------------------------------------------------------
    def create(self, owner: str, new: NewSubscription) -> Subscription:
        """Store a subscription starting at the current end of the feed."""
        self._check_filter(new.filter_param)
        _check_events(new.events)
        _check_endpoint(new.endpoint)
        if new.status is SubscriptionStatus.CANCELLED:
            raise InvalidQuery("a new subscription cannot be cancelled", field="Status")
        sub = Subscription(
            id=uuid.uuid4(),
            owner=owner,
            filter_param=new.filter_param,
            events=tuple(dict.fromkeys(new.events)),
            status=new.status,
            submission_date=self.clock(),
            cursor=self.catalogue.change_head(),
            endpoint=new.endpoint,
            endpoint_username=new.endpoint_username if new.endpoint else None,
            endpoint_password=new.endpoint_password if new.endpoint else None,
        )
        limits = self.limits
        if not self.store.insert(sub, max_running=limits.max_running, max_total=limits.max_total):
            running, total = self.store.counts(owner)
            if total >= limits.max_total:
                raise Conflict(f"a user can have at most {limits.max_total} subscriptions")
            raise Conflict(f"a user can have at most {limits.max_running} running subscriptions")
        return sub

    def owned(self, owner: str) -> list[Subscription]:
        """The owner's subscriptions, oldest first."""
        return self.store.owned(owner)

    def get(self, owner: str, sub_id: uuid.UUID) -> Subscription:
        """One of the owner's subscriptions, or NotFound."""
        found = self.store.get(owner, sub_id)
        if found is None:
            raise NotFound(f"Subscription with id {sub_id} not found.")
        return found

    def update(self, owner: str, sub_id: uuid.UUID, changes: SubscriptionChanges) -> Subscription:
        """Change the status and/or the push endpoint; a cancelled subscription stays so."""
        _check_endpoint(changes.endpoint)
        sub = self.get(owner, sub_id)
        if sub.status is SubscriptionStatus.CANCELLED and changes.status not in (
            None,
            SubscriptionStatus.CANCELLED,
        ):
            raise InvalidQuery("a cancelled subscription cannot be resumed", field="Status")
        endpoint = None if changes.clear_endpoint else changes.endpoint or sub.endpoint
        changed = replace(
            sub,
            status=changes.status or sub.status,
            endpoint=endpoint,
            endpoint_username=None
            if endpoint is None
            else changes.endpoint_username or sub.endpoint_username,
            endpoint_password=None
            if endpoint is None
            else changes.endpoint_password or sub.endpoint_password,
        )
        if not self.store.update(changed, max_running=self.limits.max_running):
            self.get(owner, sub_id)  # deleted meanwhile: NotFound
            raise Conflict(
                f"a user can have at most {self.limits.max_running} running subscriptions"
            )
        return changed

    def delete(self, owner: str, sub_id: uuid.UUID) -> None:
        """Remove a subscription, or NotFound."""
        if not self.store.delete(owner, sub_id):
            raise NotFound(f"Subscription with id {sub_id} not found.")

    # -- pull ----------------------------------------------------------------------------------
    def read(self, owner: str, sub_id: uuid.UUID, top: int = 1) -> list[Notification]:
        """The next ``top`` notifications after the cursor (the same ones until acknowledged).
        A cancelled subscription is NotFound."""
        if not 1 <= top <= self.limits.max_top:
            raise InvalidQuery(f"$top must be between 1 and {self.limits.max_top}", field="$top")
        return self.pending(self._live(owner, sub_id), top)

    def ack(self, owner: str, sub_id: uuid.UUID, ack_id: int) -> AckResult:
        """Acknowledge the notification ``ack_id`` and every earlier one."""
        sub = self._live(owner, sub_id)
        head = self.catalogue.change_head()
        if ack_id < 1 or ack_id > head:
            raise InvalidQuery(
                f"$ackid must be a notification's AckId (between 1 and {head})", field="$ackid"
            )
        acknowledged = 0
        if ack_id > sub.cursor:
            acknowledged = self._count(sub, sub.cursor, ack_id)
            if not self.store.advance(sub.id, ack_id, self.clock() if acknowledged else None):
                acknowledged = 0  # a concurrent Ack got there first
        return AckResult(acknowledged, self._count(sub, max(ack_id, sub.cursor), None))

    # -- push side -----------------------------------------------------------------------------
    def pending(self, sub: Subscription, top: int) -> list[Notification]:
        """The next ``top`` notifications of ``sub`` (no owner check)."""
        walk = self._walk(sub, sub.cursor, top=top, until=None)
        if walk.skip_to > sub.cursor:
            self.store.advance(sub.id, walk.skip_to, None)
        return walk.found

    def delivered(self, sub: Subscription, ack_id: int) -> None:
        """Record that a pushed notification (and those before it) arrived."""
        self.store.advance(sub.id, ack_id, self.clock())

    # -- internals -----------------------------------------------------------------------------
    def _live(self, owner: str, sub_id: uuid.UUID) -> Subscription:
        sub = self.get(owner, sub_id)
        if sub.status is SubscriptionStatus.CANCELLED:
            raise NotFound(f"Subscription with id {sub_id} not found.")
        return sub

    def _check_filter(self, text: str) -> Node:
        if not text.strip():
            raise InvalidQuery("FilterParam must be a non-empty $filter", field="FilterParam")
        if len(text) > MAX_FILTER_LENGTH:
            raise InvalidQuery(
                f"FilterParam has at most {MAX_FILTER_LENGTH} characters", field="FilterParam"
            )
        return self._filter(text)

    def _filter(self, text: str) -> Node:
        with self._lock:
            found = self._filters.get(text)
        if found is None:
            try:
                found = normalize_filter(self.parse(text))
            except RecursionError:
                raise InvalidQuery(
                    "FilterParam is nested too deeply", field="FilterParam"
                ) from None
            with self._lock:
                if len(self._filters) > 10_000:  # parsed filters are a cache, not a leak
                    self._filters.clear()
                self._filters[text] = found
        return found

    def _count(self, sub: Subscription, after: int, until: int | None) -> int:
        """How many notifications lie after ``after`` (up to ``until``, or the feed's end)."""
        return len(self._walk(sub, after, top=None, until=until).found)

    def _walk(self, sub: Subscription, after: int, *, top: int | None, until: int | None) -> _Walk:
        try:
            node = self._filter(sub.filter_param)
        except InvalidQuery as exc:  # stored under an older parser; logged, delivers nothing
            log.warning("subscription %s: its filter no longer parses: %s", sub.id, exc.detail)
            return _Walk([], after, after)
        wanted = set(sub.events)
        found: list[Notification] = []
        skip_to = scanned = after
        budget = self.limits.scan_events
        for page in self._pages(after, until, budget):
            for note in self._resolve([c for c in page if c.event in wanted]):
                if _matches(node, note):
                    found.append(note)
                    if top is not None and len(found) >= top:
                        return _Walk(found, skip_to, note.ack_id)
            scanned = page[-1].seq
            if not found:
                skip_to = scanned
        return _Walk(found, skip_to, scanned)

    def _pages(self, after: int, until: int | None, budget: int) -> Iterator[list[Change]]:
        """Feed events after ``after`` (up to ``until``) in pages, at most ``budget`` events."""
        position = after
        while budget > 0:
            page = self.catalogue.changes(position, min(_PAGE, budget))
            if until is not None:
                page = [c for c in page if c.seq <= until]
            if not page:
                return
            yield page
            budget -= len(page)
            position = page[-1].seq

    def _resolve(self, changes: list[Change]) -> list[Notification]:
        """The product (or deletion record) of each event, in feed order; events whose
        product is gone with no deletion record (purged) are left out."""
        live_ids = [c.product_id for c in changes if c.event is not ChangeEvent.DELETED]
        products = {p.id: p for p in self.catalogue.get_many(live_ids)}
        out: list[Notification] = []
        for change in changes:
            product = products.get(change.product_id)
            if change.event is not ChangeEvent.DELETED and product is not None:
                out.append(Notification(change, product=product))
                continue
            try:  # deleted since: shown as it was when deleted
                out.append(
                    Notification(change, deleted=self.catalogue.get_deleted(change.product_id))
                )
            except NotFound:
                continue
        return out


def _matches(node: Node, note: Notification) -> bool:
    product = note.product or (note.deleted.product if note.deleted else None)
    return product is not None and matches(node, product)


def _check_events(events: tuple[ChangeEvent, ...]) -> None:
    if not events:
        raise InvalidQuery(
            "SubscriptionEvent must name at least one event", field="SubscriptionEvent"
        )


def _check_endpoint(endpoint: str | None) -> None:
    """A push endpoint is an absolute http(s) URL."""
    if endpoint is None:
        return
    try:
        url = urllib.parse.urlsplit(endpoint)
        url.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError:
        url = urllib.parse.urlsplit("")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InvalidQuery(
            "NotificationEndpoint must be an absolute http or https URL",
            field="NotificationEndpoint",
        )
