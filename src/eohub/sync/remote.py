"""The client of a remote hub's DHuS OData v1 service (another eohub, or any DHuS).

Every request is retried with bounded exponential backoff on what may pass: timeouts and
broken connections, 5xx, 429 (its ``Retry-After`` is honoured, up to the backoff cap) and a
body that is not the JSON asked for. Other statuses (401, 403, 404, 400...) fail at once with
the remote's own message.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from eohub.errors import HubError
from eohub.sync.dhus_entry import date_ms, from_ms
from eohub.sync.redirects import RedirectRefused, get_following

log = logging.getLogger("eohub.sync")

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class RemoteError(HubError):
    """The remote hub failed or refused a request; ``transient`` when a retry may pass."""

    code = "sync_remote_error"

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff: ``attempts`` tries, waits ``base * 2**n`` capped at
    ``cap`` seconds, each with up to 25 % random jitter (so synchronisers do not retry in
    step against one remote)."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 0)."""
        wait = min(self.cap, self.base * float(2**attempt))
        if retry_after is not None:
            wait = min(self.cap, max(wait, retry_after))
        return float(wait * (1 + random.random() / 4))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _message(response: httpx.Response) -> str:
    """The remote's own error text: DHuS's ``cause-message`` header, the OData error
    message, or the start of the body."""
    cause = response.headers.get("cause-message")
    if cause:
        return str(cause)
    try:
        body = response.json()
        value = body["error"]["message"]
        return str(value.get("value") if isinstance(value, dict) else value)
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:200].strip() or response.reason_phrase


def service_root(url: str) -> str:
    """The OData v1 service root of ``url``: a hub's base URL gets ``/odata/v1``."""
    url = url.rstrip("/")
    return url if url.endswith("/odata/v1") else f"{url}/odata/v1"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class RemoteHub:
    """Pages of products and deletions, and product bytes, from one remote OData v1 service."""

    def __init__(
        self,
        url: str,
        *,
        auth: httpx.Auth | tuple[str, str] | None = None,
        token: str | None = None,
        backoff: Backoff = Backoff(),
        timeout: float = 60.0,
        connections: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.root = service_root(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(
            auth=auth,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=True,
        )
        self.backoff = backoff
        self.sleep = sleep
        self.server_time: datetime | None = None  # the remote's clock (Date header), last seen
        # Called when the remote refuses a request for too many at once (429, DHuS's 403
        # "concurrent flows"): a synchroniser run lowers its parallel transfers.
        self.on_throttle: Callable[[], None] | None = None

    def close(self) -> None:
        """Release the connections."""
        self.client.close()

    # -- requests with retries ------------------------------------------------------------------
    def _note_date(self, response: httpx.Response) -> None:
        value = response.headers.get("Date")
        if value:
            try:
                self.server_time = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                pass

    def retrying(self, what: str, call: Callable[[], Any]) -> Any:
        """Run ``call`` until it passes, retrying transient RemoteErrors with backoff."""
        for attempt in range(self.backoff.attempts):
            try:
                return call()
            except RemoteError as exc:
                if not exc.transient or attempt + 1 >= self.backoff.attempts:
                    raise
                wait = self.backoff.delay(attempt, getattr(exc, "retry_after", None))
                log.warning("%s failed (%s); retry %d in %.1fs", what, exc, attempt + 1, wait)
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def check(self, response: httpx.Response, what: str) -> None:
        """Raise a RemoteError for a failed response (transient for 5xx and 429)."""
        self._note_date(response)
        if response.status_code < 400:
            return
        message = _message(response)
        # DHuS (and this hub) refuse a download beyond the user's concurrent downloads with
        # 403 "... concurrent flows ...": a throttle that passes once a download ends.
        throttled = response.status_code == 429 or (
            response.status_code == 403 and "concurrent flows" in message
        )
        if throttled and self.on_throttle is not None:
            self.on_throttle()
        transient = throttled or response.status_code in _RETRY_STATUS
        error = RemoteError(f"{what}: HTTP {response.status_code} {message}", transient=transient)
        error.retry_after = _retry_after(response)  # type: ignore[attr-defined]
        raise error

    def _get_json(self, path: str, params: dict[str, str], what: str) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            try:
                response = self.client.get(f"{self.root}/{path}", params=params)
                self.check(response, what)
                # orjson: pages of 1,000 entries decode several times faster than with json.
                body = orjson.loads(response.content)
            except httpx.TransportError as exc:
                raise RemoteError(f"{what}: {type(exc).__name__}: {exc}") from None
            except ValueError:
                raise RemoteError(
                    f"{what}: the remote answered with a body that is not JSON"
                ) from None
            if not isinstance(body, dict) or not isinstance(body.get("d"), dict):
                raise RemoteError(f"{what}: the remote answer is not an OData v1 JSON document")
            data: dict[str, Any] = body["d"]
            return data

        result: dict[str, Any] = self.retrying(what, once)
        return result

    # -- pages -------------------------------------------------------------------------------
    def products(
        self,
        *,
        filter: str | None,
        orderby: str,
        top: int,
        collection: str | None = None,
    ) -> list[dict[str, Any]]:
        """One page of Product entries with their Attributes, oldest first."""
        params = {"$format": "json", "$orderby": orderby, "$top": str(top),
                  "$expand": "Attributes"}  # fmt: skip
        if filter:
            params["$filter"] = filter
        path = f"Collections({_quote(collection)})/Products" if collection else "Products"
        results = self._get_json(path, params, "listing remote products").get("results")
        if not isinstance(results, list):
            raise RemoteError("listing remote products: the answer has no results")
        return [r for r in results if isinstance(r, dict)]

    def deleted(self, *, filter: str | None, top: int, skip: int) -> list[dict[str, Any]]:
        """One page of DeletedProduct entries, by DeletionDate then Id."""
        params = {"$format": "json", "$top": str(top), "$skip": str(skip)}
        if filter:
            params["$filter"] = filter
        results = self._get_json("DeletedProducts", params, "listing remote deletions").get(
            "results"
        )
        if not isinstance(results, list):
            raise RemoteError("listing remote deletions: the answer has no results")
        return [r for r in results if isinstance(r, dict)]

    def availability(self, product_id: uuid.UUID) -> tuple[bool, str | None] | None:
        """(online there, its MD5 there) of one product; None when the remote has no such
        product."""
        entry = self.entry(product_id)
        if entry is None:
            return None
        checksum = entry.get("Checksum")
        md5 = checksum.get("Value") if isinstance(checksum, dict) else None
        return entry.get("Online") is not False, md5.lower() if isinstance(md5, str) else None

    def entry(self, product_id: uuid.UUID) -> dict[str, Any] | None:
        """One Product entry (no expansions), None when the remote has no such product."""
        url = f"{self.root}/Products({_quote(str(product_id))})"
        what = f"reading product {product_id}"
        body = self.json_or_none(url, {"$format": "json"}, what)
        if body is None:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("d"), dict):
            raise RemoteError(f"{what}: the remote answer is not an OData v1 JSON entry")
        data: dict[str, Any] = body["d"]
        return data

    def json_or_none(self, url: str, params: dict[str, str], what: str) -> Any:
        """The JSON body of ``url``, retried; None on 404."""

        def once() -> Any:
            try:
                response = self.client.get(url, params=params)
            except httpx.TransportError as exc:
                raise RemoteError(f"{what}: {type(exc).__name__}: {exc}") from None
            if response.status_code == 404:
                return None
            self.check(response, what)
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise RemoteError(
                    f"{what}: the remote answered with a body that is not JSON"
                ) from None

        return self.retrying(what, once)

    def newest(self, filter: str | None = None) -> datetime | None:
        """The CreationDate of the remote's newest product (matching ``filter``), for the
        lag; None when it has none."""
        params = {"$format": "json", "$orderby": "CreationDate desc", "$top": "1"}
        if filter:
            params["$filter"] = filter
        results = self._get_json("Products", params, "reading the newest remote product").get(
            "results"
        )
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            return None
        try:
            return from_ms(date_ms(results[0].get("CreationDate"), "CreationDate"))
        except HubError:
            return None

    # -- bytes --------------------------------------------------------------------------------
    def value_url(self, product_id: uuid.UUID) -> str:
        """The URL of a product's bytes on the remote (the same shape this hub serves)."""
        return f"{self.root}/Products({_quote(str(product_id))})/$value"

    def fetch_bytes(self, url: str, what: str) -> bytes | None:
        """A small resource (a quicklook) by URL, its trusted redirects followed with the
        credentials (see :mod:`eohub.sync.redirects`), retried; None on 404."""

        def once() -> bytes | None:
            try:
                with get_following(self.client, url, {}, what) as response:
                    response.read()
            except httpx.TransportError as exc:
                raise RemoteError(f"{what}: {type(exc).__name__}") from None
            except RedirectRefused as exc:
                raise RemoteError(str(exc), transient=False) from None
            if response.status_code == 404:
                return None
            self.check(response, what)
            return response.content

        result: bytes | None = self.retrying(what, once)
        return result

    @contextmanager
    def open_value(
        self, product_id: uuid.UUID, start: int = 0, *, if_range: str | None = None
    ) -> Iterator[httpx.Response]:
        """A streaming response of the product's bytes from ``start`` (a Range request past
        0, with ``If-Range`` when given); checked: an error status raises RemoteError, 202
        (offline there) too."""
        # Byte offsets count the bytes as stored: no content coding in between.
        headers = {"Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
            if if_range:
                headers["If-Range"] = if_range
        url = self.value_url(product_id)
        try:
            what = f"downloading {product_id}"
            with get_following(self.client, url, headers, what) as response:
                if response.status_code >= 400:
                    response.read()
                self.check(response, what)
                if response.status_code == 202:
                    raise RemoteError(f"product {product_id} is offline on the remote hub")
                yield response
        except httpx.TransportError as exc:
            raise RemoteError(f"downloading {product_id}: {type(exc).__name__}: {exc}") from None
        except RedirectRefused as exc:
            raise RemoteError(str(exc), transient=False) from None

    def derived(self, product_id: uuid.UUID, kind: str) -> bytes | None:
        """A derived product's bytes (``Quicklook``, ``Thumbnail``), None when it has none."""
        url = f"{self.root}/Products({_quote(str(product_id))})/Products({_quote(kind)})/$value"
        return self.fetch_bytes(url, f"{kind} of {product_id}")
