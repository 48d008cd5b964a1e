"""Saved-search notifications, driven by catalogue changes (never by re-running searches).

:class:`FeedNotifications` follows the catalogue's change feed with one cursor in the account
database, so products written by any process (the server, ``eohub ingest``, a watch folder)
are noticed; the server's background worker runs it every few seconds. It hands the products
*created* since its cursor to :meth:`SearchNotifier.notify`: each saved search with
notification on is tested against just those products, in memory, with the reference
evaluator; each owner gets one mail per round listing the new matches of all their searches.
A mail that cannot be sent is logged and the searches stay un-notified (it is not retried);
nothing here ever fails an ingest.
"""

from __future__ import annotations

import logging
import os
import socket
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from eohub.catalogue.service import Catalogue
from eohub.errors import HubError
from eohub.mail import Mail, Mailer
from eohub.model.change import ChangeEvent
from eohub.model.product import Product
from eohub.query.evaluate import matches
from eohub.query.tree import Node
from eohub.workspace.params import parse_params
from eohub.workspace.ports import SavedSearch, Subscription, WorkspaceStore

log = logging.getLogger("eohub.workspace")

MAX_LISTED = 50
"""Products listed per saved search in one mail (the rest are counted)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _printable(text: str) -> str:
    return "".join("?" if unicodedata.category(ch) == "Cc" else ch for ch in text)


@dataclass(frozen=True)
class Match:
    """The new products of one saved search."""

    search: SavedSearch
    products: list[Product]


class SearchNotifier:
    """Mails owners of notify-enabled saved searches about new matching products.

    ``portal_url`` is the portal's base URL used in the mailed links (``/products/<id>``).
    """

    def __init__(
        self,
        store: WorkspaceStore,
        mailer: Mailer,
        *,
        portal_url: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.portal_url = portal_url.rstrip("/")
        self._clock = clock

    def active(self) -> bool:
        """Whether anyone has notification on (one indexed query): when not, the catalogue
        need not find out which products of an upsert are new."""
        return self.store.any_notify()

    def notify(self, products: Sequence[Product]) -> int:
        """Mail every owner whose searches match some of ``products``; mails sent."""
        if not products:
            return 0
        by_owner: dict[str, tuple[Subscription, list[Match]]] = {}
        for subscription in self.store.subscriptions():
            node = _filter_of(subscription.search)
            if node is None:
                continue
            found = [p for p in products if matches(node, p)]
            if found:
                entry = by_owner.setdefault(subscription.username, (subscription, []))
                entry[1].append(Match(subscription.search, found))
        sent = 0
        for subscription, owned in by_owner.values():
            if self._send(subscription, owned):
                sent += 1
                self.store.mark_notified([m.search.id for m in owned], self._clock())
        return sent

    __call__ = notify

    def _send(self, subscription: Subscription, found: list[Match]) -> bool:
        total = sum(len(m.products) for m in found)
        subject = f"eohub: {total} new product{'s' if total != 1 else ''} for your saved searches"
        mail = Mail(subscription.email, subject, self._text(subscription.username, found))
        try:
            self.mailer.send(mail)
        except HubError as exc:
            log.warning(
                "saved-search notification to %s not sent: %s", subscription.username, exc.detail
            )
            return False
        return True

    def _text(self, username: str, found: list[Match]) -> str:
        lines = [f"Hello {username},", "", "New products match your saved searches.", ""]
        for match in found:
            count = len(match.products)
            lines.append(f'Saved search "{_printable(match.search.name)}": {count} new')
            for product in match.products[:MAX_LISTED]:
                lines.append(f"  - {_printable(product.name)}")
                lines.append(f"    {self.portal_url}/products/{product.id}")
            if count > MAX_LISTED:
                lines.append(f"  ... and {count - MAX_LISTED} more")
            lines.append(f"  Run it again: {self.portal_url}/?{match.search.params}")
            lines.append("")
        lines.append(f"Turn these mails off on {self.portal_url}/searches")
        return "\n".join(lines) + "\n"


def _filter_of(search: SavedSearch) -> Node | None:
    """The normalised filter of a saved search; None (logged) when it no longer parses."""
    try:
        return parse_params(search.params).filter
    except HubError as exc:
        log.warning("saved search %d cannot be evaluated: %s", search.id, exc.detail)
        return None


class FeedCursors(Protocol):
    """Named feed cursors with leases, kept in a database every server process shares."""

    def cursor(self, name: str, start: Callable[[], int]) -> int:
        """The named cursor, created at ``start()`` on first use."""

    def move_cursor(self, name: str, seq: int) -> None:
        """Move the named cursor forward to ``seq``."""

    def take_lease(
        self, kind: Literal["cursor"], key: str, holder: str, now: datetime, seconds: float
    ) -> bool:
        """Take or extend the cursor's lease unless another holder's is still valid."""

    def release_lease(self, kind: Literal["cursor"], key: str, holder: str) -> None:
        """Give the lease back."""


class FeedNotifications:
    """One round of saved-search mails from the change feed (:meth:`run_once`).

    The cursor starts at the end of the feed the first time (no mail about older products).
    One round reads at most ``max_events`` events; only one process runs a round at a time
    (the cursor's lease), so no mail is sent twice.
    """

    CURSOR = "saved-searches"

    def __init__(
        self,
        notifier: SearchNotifier,
        catalogue: Catalogue,
        cursors: FeedCursors,
        *,
        max_events: int = 10_000,
        lease_s: float = 300.0,
    ) -> None:
        self.notifier = notifier
        self.catalogue = catalogue
        self.cursors = cursors
        self.max_events = max_events
        self.lease_s = lease_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run_once(self) -> int:
        """Mail about the products created since the cursor; returns mails sent."""
        now = datetime.now(UTC)
        start = self.cursors.cursor(self.CURSOR, self.catalogue.change_head)
        if not self.cursors.take_lease("cursor", self.CURSOR, self.holder, now, self.lease_s):
            return 0  # another process is on it
        try:
            start = self.cursors.cursor(self.CURSOR, self.catalogue.change_head)
            if not self.notifier.active():
                # Nobody to mail: skip to the head without reading the events (a mirror's
                # feed grows by ~500,000 a month, each decoded for nothing otherwise).
                head = self.catalogue.change_head()
                if head > start:
                    self.cursors.move_cursor(self.CURSOR, head)
                return 0
            changes = self.catalogue.changes(start, self.max_events)
            if not changes:
                return 0
            created = [c.product_id for c in changes if c.event is ChangeEvent.CREATED]
            # Products deleted since are gone from the catalogue and are not mailed.
            sent = self.notifier.notify(self.catalogue.get_many(list(dict.fromkeys(created))))
            self.cursors.move_cursor(self.CURSOR, changes[-1].seq)
            return sent
        finally:
            self.cursors.release_lease("cursor", self.CURSOR, self.holder)
