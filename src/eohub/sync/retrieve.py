"""Offline products retrieved on demand from an upstream hub.

A download of an offline product queues a retrieval for the user (DHuS answers 202 Accepted);
each user has at most ``max_pending`` retrievals waiting (beyond: DHuS's 403 wording). The
server's background worker runs :meth:`Retriever.run_once`: for each product waited for, the
sources are asked in order for the product (``Products('<Id>')``); the first that has it
online streams its bytes into the archive (:class:`eohub.sync.transfer.ResumingReader`:
resumed with Range, retried with backoff), which are kept only when their size and MD5 are the
catalogue's own. Only then is the product written back online, kept online at least
``keep`` (eviction respects it), and the users are mailed. A source that fails leaves the
product offline with no stored bytes; after ``attempts`` failed rounds the users are told and
a new download queues it again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eohub.catalogue.service import Catalogue
from eohub.errors import Forbidden, HubError, NotFound
from eohub.mail import Mail, Mailer
from eohub.model.product import Checksum, Product
from eohub.model.user import User
from eohub.storage.errors import StorageError
from eohub.storage.ports import ObjectStore, product_key
from eohub.sync.archive_store import DONE, FAILED, Retrieval, SqlArchiveStore
from eohub.sync.credentials import CDSE_CLIENT, source_client
from eohub.sync.model import SourceLogin, SourceProtocol, protocol_of
from eohub.sync.remote import Backoff, RemoteError, RemoteHub
from eohub.sync.runner import archive_name
from eohub.sync.transfer import ResumingReader

log = logging.getLogger("eohub.retrieve")


def _now() -> datetime:
    return datetime.now(UTC)


class RetrievalQuotaExceeded(Forbidden):
    """The user already waits for as many offline products as allowed."""

    code = "retrieval_quota_exceeded"


@dataclass(frozen=True)
class Source:
    """A hub offline products may be retrieved from (its DHuS OData v1 service)."""

    label: str
    url: str
    username: str | None = None
    password: str | None = None
    token: str | None = None
    timeout: float = 60.0  # seconds per request
    token_url: str | None = None  # an OpenID Connect token endpoint for the user name
    client_id: str = CDSE_CLIENT
    protocol: SourceProtocol | None = None  # None: from the URL

    def remote(self, backoff: Backoff | None = None) -> RemoteHub:
        """A client of the source with its credentials, speaking its protocol (CDSE-style for
        a ``/catalogue/odata/v1`` URL unless ``protocol`` says otherwise)."""
        login = SourceLogin(self.url, self.username, self.password, self.token, self.token_url)
        remote = source_client(login, self.protocol or protocol_of(self.url),
                               client_id=self.client_id, timeout=self.timeout)  # fmt: skip
        if backoff is not None:
            remote.backoff = backoff
        return remote


Sources = Callable[[], Sequence[Source]]


@dataclass(frozen=True)
class Status:
    """What the portal shows of a user's retrieval of a product."""

    state: str  # pending | done | failed
    requested: datetime
    finished: datetime | None
    error: str | None


class Retrievals:
    """Queue retrievals for users, tell their status, and fetch them (:meth:`run_once`)."""

    def __init__(
        self,
        store: SqlArchiveStore,
        catalogue: Catalogue,
        archive: ObjectStore,
        sources: Sources,
        *,
        mailer: Mailer | None = None,
        email_of: Callable[[str], str | None] = lambda _: None,
        portal_url: str = "",
        max_pending: int = 20,
        keep: timedelta = timedelta(days=3),
        attempts: int = 3,
        per_round: int = 4,
        backoff: Backoff | None = None,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.archive = archive
        self.sources = sources
        self.mailer = mailer
        self.email_of = email_of
        self.portal_url = portal_url.rstrip("/")
        self.max_pending = max_pending
        self.keep = keep
        self.attempts = attempts
        self.per_round = per_round
        self.backoff = backoff
        self.on_change = on_change  # e.g. the EvictionCalendar's invalidate
        self.clock = clock

    # -- requests -------------------------------------------------------------------------------
    def available(self) -> bool:
        """Whether any source is configured (else offline products stay as they are)."""
        return bool(self.sources())

    def request(self, user: User, product: Product) -> bool:
        """Queue ``user``'s retrieval of an offline ``product`` (joined when already queued);
        True when it was added. RetrievalQuotaExceeded with DHuS's words beyond the limit."""
        outcome, _ = self.store.queue(product.id, user.username, self.clock(), self.max_pending)
        if outcome == "refused":
            raise RetrievalQuotaExceeded(
                f"User '{user.username}' offline products retrieval quota exceeded "
                f"({self.max_pending} fetches max) trying to fetch product {product.name} "
                f"({product.size} bytes compressed)"
            )
        if outcome == "added":
            log.info("retrieval of %s queued for %s", product.name, user.username)
        return outcome == "added"

    def status(self, product_id: uuid.UUID, username: str) -> Status | None:
        """The user's latest retrieval of the product, if any."""
        found = self.store.latest(product_id, username)
        if found is None:
            return None
        return Status(found.status, found.requested, found.finished, found.error)

    # -- the worker -----------------------------------------------------------------------------
    def run_once(self) -> int:
        """Try the products waited for longest (at most ``per_round``); how many came back."""
        done = 0
        for product_id in self.store.pending_products(self.per_round):
            try:
                done += self.retrieve(product_id)
            except Exception:  # one product never stops the others
                log.exception("retrieval of %s failed", product_id)
        return done

    def retrieve(self, product_id: uuid.UUID) -> bool:
        """Fetch one product from the first source that has it; True when it is online."""
        waiting = self.store.of_product(product_id)
        try:
            product = self.catalogue.get(product_id)
        except NotFound:
            self._finish(product_id, waiting, None, FAILED, "the product was removed")
            return False
        if product.online and product.archive_key:
            self._finish(product_id, waiting, product, DONE, None)
            return True
        errors: list[str] = []
        for source in self.sources():
            try:
                fetched = self._from(source, product)
            except (HubError, StorageError) as exc:
                errors.append(f"{source.label}: {exc.user_message}")
                continue
            if fetched is None:
                errors.append(f"{source.label}: does not have it online")
                continue
            self._finish(product_id, waiting, fetched, DONE, None)
            return True
        error = "; ".join(errors)[:2000] or "no source is configured"
        log.warning("retrieval of %s failed: %s", product.name, error)
        if self.store.tried(product_id, error) >= self.attempts:
            self._finish(product_id, waiting, product, FAILED, error)
        return False

    def _from(self, source: Source, product: Product) -> Product | None:
        """The product online again with bytes from ``source``; None when it has not them."""
        remote = source.remote(self.backoff)
        try:
            there = remote.availability(product.id)
            if there is None or not there[0]:
                return None
            md5 = product.checksum("MD5")
            if md5 and there[1] is not None and there[1] != md5.lower():
                return None  # another product under the same Id: never mix them up
            stamp = self.clock().strftime("%Y%m%dT%H%M%S%f")
            key = f"{product_key(product.id, stamp)}/{archive_name(product)}"
            with ResumingReader(remote, product.id, product.size) as reader:
                stored = self.archive.put(key, reader, expected_size=product.size)  # type: ignore[arg-type]
            if (md5 and stored.md5 != md5) or stored.size != product.size:
                self._delete(key)
                raise RemoteError(
                    f"the received bytes (MD5 {stored.md5}, {stored.size} bytes) are not the "
                    f"product's (MD5 {md5}, {product.size} bytes)"
                )
        finally:
            remote.close()
        return self._online(product, key, stored.md5, stored.blake3)

    def _online(self, product: Product, key: str, md5: str, blake3: str) -> Product:
        now = self.clock()
        latest = self.catalogue.get(product.id)
        known = {c.algorithm for c in latest.checksums}
        extra = tuple(
            Checksum(a, v, now) for a, v in (("MD5", md5), ("BLAKE3", blake3)) if a not in known
        )
        back = latest.evolve(online=True, archive_key=key, modification_date=now,
                             checksums=latest.checksums + extra)  # fmt: skip
        try:
            self.catalogue.upsert([back])
        except BaseException:
            self._delete(key)  # not catalogued: the bytes must not linger
            raise
        self.store.keep_until(product.id, now + self.keep)
        return back

    def _finish(
        self,
        product_id: uuid.UUID,
        waiting: list[Retrieval],
        product: Product | None,
        status: str,
        error: str | None,
    ) -> None:
        self.store.finish(product_id, status, self.clock(), error)
        self.on_change()
        if product is None or self.mailer is None:
            return
        for item in waiting:
            self._notify(item.username, product, status, error)

    def _notify(self, username: str, product: Product, status: str, error: str | None) -> None:
        address = self.email_of(username)
        if not address or self.mailer is None:
            return
        link = f"{self.portal_url}/products/{product.id}"
        if status == DONE:
            subject = f"Product online: {product.name}"
            until = (self.clock() + self.keep).strftime("%Y-%m-%d %H:%M UTC")
            text = (f"The product you asked for is online again and can be downloaded "
                    f"until at least {until}:\n\n{product.name}\n{link}\n")  # fmt: skip
        else:
            subject = f"Product not retrieved: {product.name}"
            text = (f"The product you asked for could not be retrieved ({error}).\n"
                    "Downloading it again asks for it again.\n\n"
                    f"{product.name}\n{link}\n")  # fmt: skip
        try:
            self.mailer.send(Mail(address, subject, text))
        except HubError as exc:  # a mail that cannot be sent never fails a retrieval
            log.warning("retrieval mail to %s not sent: %s", username, exc.user_message)

    def _delete(self, key: str) -> None:
        try:
            self.archive.delete(key)
        except StorageError as exc:  # fsck reports what is left behind
            log.warning("could not remove %s from the archive: %s", key, exc)
