"""Push delivery: POST each notification of running push subscriptions to their endpoint.

Per notification, up to ``attempts`` tries with exponential backoff (``backoff_s``, doubled each
time); a 2xx answer acknowledges it (the cursor moves), anything else leaves it pending and the
subscription waits, with a backoff that grows per failed round up to ``MAX_ROUND_WAIT_S``,
before its next round. Nothing is ever dropped: CDSE gives up after 3 tries, this hub tries
again until the feed no longer holds the event.

Only one server process pushes a given subscription at a time: it holds the subscription's
lease in the store (see ``store.py``) while it delivers, renewed after each notification.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from eohub.protocols.csc.entities import S3Paths
from eohub.subscriptions import render
from eohub.subscriptions.model import Subscription
from eohub.subscriptions.service import Subscriptions

log = logging.getLogger("eohub.subscriptions.push")

BATCH = 20  # notifications delivered per subscription and round
MAX_ROUND_WAIT_S = 300.0


def _now() -> datetime:
    return datetime.now(UTC)


def _never_stop(seconds: float) -> bool:
    return False


class Pusher:
    """Delivers push subscriptions' notifications; ``run_once`` is one round over them all.

    ``root`` is the OData service root in the payloads' links, ``s3`` the archive's bucket
    (their S3Path); ``wait(seconds)`` sleeps
    between tries and returns True when the hub is stopping (then delivery stops at once).
    """

    def __init__(
        self,
        subscriptions: Subscriptions,
        root: str,
        *,
        s3: S3Paths | None = None,
        attempts: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 10.0,
        wait: Callable[[float], bool] = _never_stop,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.subscriptions = subscriptions
        self.root = root
        self.s3 = s3
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._wait = wait
        self._clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # One notification's worst case, and a margin: the lease never lapses mid-delivery.
        self.lease_s = attempts * timeout_s + backoff_s * (2**attempts) + 30.0
        self._resting: dict[uuid.UUID, tuple[int, datetime]] = {}
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def run_once(self) -> int:
        """One round: every running push subscription not resting and not leased elsewhere
        gets up to ``BATCH`` notifications; returns how many were delivered."""
        delivered = 0
        store = self.subscriptions.store
        for sub in store.pushed():
            resting = self._resting.get(sub.id)
            if resting is not None and resting[1] > self._clock():
                continue
            if not store.take_lease(
                "subscription", str(sub.id), self.holder, self._clock(), self.lease_s
            ):
                continue
            try:
                delivered += self._deliver(sub)
            finally:
                store.release_lease("subscription", str(sub.id), self.holder)
        return delivered

    def _deliver(self, sub: Subscription) -> int:
        store = self.subscriptions.store
        sent = 0
        for note in self.subscriptions.pending(sub, BATCH):
            if not self._post(sub, render.notification(note, sub.id, self.root, self.s3)):
                failures = self._resting.get(sub.id, (0, self._clock()))[0] + 1
                rest = min(self.backoff_s * 2 ** (self.attempts + failures - 1), MAX_ROUND_WAIT_S)
                self._resting[sub.id] = (
                    failures,
                    datetime.fromtimestamp(self._clock().timestamp() + rest, UTC),
                )
                log.warning(
                    "subscription %s: notification %d not delivered to %s after %d tries; "
                    "next round in %.0f s",
                    sub.id,
                    note.ack_id,
                    sub.endpoint,
                    self.attempts,
                    rest,
                )
                return sent
            self.subscriptions.delivered(sub, note.ack_id)
            self._resting.pop(sub.id, None)
            sent += 1
            store.take_lease("subscription", str(sub.id), self.holder, self._clock(), self.lease_s)
        return sent

    def _post(self, sub: Subscription, body: dict[str, object]) -> bool:
        assert sub.endpoint is not None  # only push subscriptions come here
        auth = None
        if sub.endpoint_username:
            auth = httpx.BasicAuth(sub.endpoint_username, sub.endpoint_password or "")
        for attempt in range(self.attempts):
            try:
                if auth is None:
                    answer = self._client.post(sub.endpoint, json=body)
                else:
                    answer = self._client.post(sub.endpoint, json=body, auth=auth)
                if answer.is_success:
                    return True
                reason = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            log.info("subscription %s: push try %d failed (%s)", sub.id, attempt + 1, reason)
            if attempt + 1 < self.attempts and self._wait(self.backoff_s * 2**attempt):
                return False  # the hub is stopping
        return False
