"""Download quotas (DHuS network channels): concurrency, count, volume, size, bandwidth.

Count and volume are sliding windows over the download records in the account store, and
concurrent downloads are leased flows in it, so every limit holds across server processes. A
flow's lease (``FLOW_LEASE_S``) is renewed while its bytes are sent; the flow of a process
that died frees its slot when the lease runs out.

Every request adds the bytes it asks for to the volume. It counts as a new download when it
starts at byte 0 and is not a short probe: sentinelsat asks for ``bytes=0-1`` to learn whether
a product is online, and a resumed download (``bytes=N-``) continues one already counted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from eohub.auth.ports import AccountStore
from eohub.errors import QuotaExceeded
from eohub.model.user import Quota, User

PROBE_BYTES = 65_536
"""A request for fewer bytes than this, of a larger object, is a probe, not a download."""


FLOW_LEASE_S = 300.0
"""How long a download flow holds its slot without being renewed."""
FLOW_RENEW_S = 60.0
"""How often a download in progress renews its flow's lease."""


class Ticket:
    """One download in progress; ``close`` (idempotent) frees its concurrency slot, and
    ``renew`` (when ``renewal_due``) keeps it while the bytes are sent. Both write to the
    account store: call them from a worker thread."""

    def __init__(
        self, release: Callable[[], None], bandwidth: int | None, renew: Callable[[], None]
    ) -> None:
        self._release: Callable[[], None] | None = release
        self._renew = renew
        self._renewed = time.monotonic()
        self.throttle = Throttle(bandwidth) if bandwidth else None

    def renewal_due(self) -> bool:
        """Whether the lease of this open download should be renewed now."""
        return self._release is not None and time.monotonic() - self._renewed >= FLOW_RENEW_S

    def renew(self) -> None:
        """Extend the flow's lease (nothing once closed)."""
        if self._release is not None:
            self._renew()
            self._renewed = time.monotonic()

    def close(self) -> None:
        """End the download."""
        release, self._release = self._release, None
        if release is not None:
            release()


class DownloadGate:
    """Admits downloads within each user's quota (their own limits over ``defaults``)."""

    def __init__(
        self,
        store: AccountStore,
        defaults: Quota,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.defaults = defaults
        self._clock = clock

    def quota_of(self, user: User) -> Quota:
        """The limits that apply to ``user``."""
        return self.defaults.merged(user.quota)

    def active(self, user: User) -> int:
        """Downloads of ``user`` in progress, in every server process."""
        return self.store.open_flows(user.username, self._clock())

    def admit(
        self,
        user: User,
        product_id: uuid.UUID,
        size: int,
        offset: int = 0,
        length: int | None = None,
    ) -> Ticket:
        """A ticket to send ``length`` bytes from ``offset`` of a ``size``-byte product, or
        QuotaExceeded with DHuS's wording."""
        quota = self.quota_of(user)
        name = user.username
        length = size - offset if length is None else length
        counted = offset == 0 and length >= min(size, PROBE_BYTES)
        if quota.max_size is not None and size > quota.max_size:
            raise QuotaExceeded(
                f'Maximum size of download ({quota.max_size}) exceeded by the user "{name}"'
            )
        if quota.max_count is not None or quota.max_volume is not None:
            since = self._clock() - timedelta(seconds=quota.period_s)
            usage = self.store.usage_since(name, since)
            if counted and quota.max_count is not None and usage.count >= quota.max_count:
                raise QuotaExceeded(
                    f'Maximum number of download ({quota.max_count}) exceeded by the user "{name}"'
                )
            if quota.max_volume is not None and usage.volume + length > quota.max_volume:
                raise QuotaExceeded(
                    f"Maximum cumulative size of download ({quota.max_volume}) exceeded "
                    f'by the user "{name}"'
                )
        flow = uuid.uuid4().hex
        now = self._clock()
        if not self.store.open_flow(name, flow, now, self._lease_end(), quota.max_concurrent):
            raise QuotaExceeded(
                "An exception occured while creating a stream: Maximum number of "
                f'{quota.max_concurrent} concurrent flows achieved by the user "{name}"'
            )
        try:
            self.store.record_download(name, product_id, length, now, counted=counted)
        except BaseException:
            self.store.close_flow(flow)
            raise
        return Ticket(
            lambda: self.store.close_flow(flow),
            quota.max_bandwidth,
            lambda: self.store.renew_flow(flow, self._lease_end()),
        )

    def _lease_end(self) -> datetime:
        return self._clock() + timedelta(seconds=FLOW_LEASE_S)


class Throttle:
    """A token bucket of ``rate`` bytes/s with one second of burst.

    ``delay(n)`` says how long to wait before sending ``n`` more bytes; the caller sleeps
    (asynchronously) so a throttled download holds no thread.
    """

    def __init__(self, rate: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = float(rate)
        self._last = clock()

    def delay(self, n: int) -> float:
        """Seconds to wait before sending ``n`` bytes (the bytes are accounted for)."""
        now = self._clock()
        self._tokens = min(float(self.rate), self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
