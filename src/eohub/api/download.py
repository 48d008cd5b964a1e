"""Streaming downloads with HTTP ranges and conditional requests, in constant memory.

Semantics follow DHuS (``MediaResponseBuilder``): ``Accept-Ranges: bytes``; a single range
``a-b``, ``a-`` or ``-n`` gives 206 with ``Content-Range``; a header that is not
``bytes=...`` or a range outside the object gives 416 with ``Content-Range: bytes */size``;
several ranges give 501; ``ETag`` is the MD5 (quoted); ``If-None-Match`` / ``If-Modified-Since``
give 304, ``If-Match`` / ``If-Unmodified-Since`` 412, and an ``If-Range`` that does not match
sends the whole object. ``Content-Range`` is also sent on a 200, as DHuS does.

The bytes come from a reader opened before the response starts (so a missing object is an
error status, not a cut stream) and are pulled chunk by chunk in a worker thread. With an
``accel_path`` (production behind nginx) the response is an ``X-Accel-Redirect`` and nginx sends
the file itself, ranges included.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

import anyio
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from eohub.auth.quotas import Ticket
from eohub.storage.ports import ByteRange

Reader = Callable[[ByteRange | None], Iterator[bytes]]
ErrorResponse = Callable[[int, str, dict[str, str]], Response]

_RANGE = re.compile(r"^bytes=\d*-\d*(,\d*-\d*)*$")
_UNSAFE_NAME = re.compile(r'[^\x20-\x7e]|["\\;]')


@dataclass(frozen=True)
class Media:
    """Bytes to send and what the response says about them."""

    size: int
    content_type: str
    filename: str | None
    etag: str | None
    last_modified: datetime | None
    reader: Reader
    accel_path: str | None = None
    admit: Callable[[int, int], Ticket] | None = None
    """Called with (offset, length) before bytes are sent: checks quotas, records the download."""


class RangeError(Exception):
    """A Range header that cannot be served: ``status`` 416 or 501."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_range(header: str, size: int) -> ByteRange:
    """The single byte range a ``Range`` header asks for, resolved against ``size``."""
    value = header.strip().replace(" ", "")
    if not _RANGE.match(value):
        raise RangeError(416, f"Invalid range header '{header[:60]}' (expected bytes=a-b)")
    specs = value[len("bytes=") :].split(",")
    if len(specs) > 1:
        raise RangeError(501, "MULTIPART NOT SUPPORTED: ask for a single byte range")
    first, _, last = specs[0].partition("-")
    if not first and not last:
        raise RangeError(416, "Invalid range 'bytes=-': give a start or a length")
    if not first:  # the last n bytes
        length = int(last[:20])
        if length == 0 or size == 0:
            raise RangeError(416, f"Range not satisfiable: {header[:60]} of {size} bytes")
        return ByteRange(max(0, size - length), size - 1)
    start = int(first[:20])
    end = int(last[:20]) if last else size - 1
    if start > end or start >= size:
        raise RangeError(416, f"Range not satisfiable: {header[:60]} of {size} bytes")
    return ByteRange(start, min(end, size - 1))


def _tags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/").strip('"').lower() for t in header.split(",")}


def _etag_matches(header: str, etag: str | None) -> bool:
    tags = _tags(header)
    return "*" in tags or (etag is not None and etag.lower() in tags)


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _seconds(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def _precondition(request: Request, media: Media) -> int | None:
    """304 or 412 from the conditional headers, else None."""
    headers = request.headers
    modified = _seconds(media.last_modified) if media.last_modified else None
    if_match = headers.get("if-match")
    if if_match is not None and not _etag_matches(if_match, media.etag):
        return 412
    unmodified = _http_date(headers.get("if-unmodified-since", ""))
    if if_match is None and unmodified and modified and modified > unmodified:
        return 412
    if_none = headers.get("if-none-match")
    if if_none is not None:
        return 304 if _etag_matches(if_none, media.etag) else None
    since = _http_date(headers.get("if-modified-since", ""))
    if since and modified and modified <= since:
        return 304
    return None


def _range_applies(request: Request, media: Media) -> bool:
    if_range = request.headers.get("if-range")
    if if_range is None:
        return True
    if if_range.strip().startswith(('"', "W/")):
        return media.etag is not None and if_range.strip().strip('"').lower() == media.etag.lower()
    date = _http_date(if_range)
    return bool(date and media.last_modified and _seconds(media.last_modified) == date)


def content_disposition(filename: str) -> str:
    """``inline;filename="NAME.zip"`` (one ``filename=``: sentinelsat splits on the first =)."""
    return f'inline;filename="{_UNSAFE_NAME.sub("_", filename)}"'


def base_headers(media: Media) -> dict[str, str]:
    """Headers every answer about these bytes carries."""
    headers = {"Accept-Ranges": "bytes", "Content-Type": media.content_type}
    if media.filename:
        headers["Content-Disposition"] = content_disposition(media.filename)
    if media.etag:
        headers["ETag"] = f'"{media.etag}"'
    if media.last_modified:
        headers["Last-Modified"] = format_datetime(_seconds(media.last_modified), usegmt=True)
    return headers


async def stream_chunks(chunks: Iterator[bytes], ticket: Ticket | None) -> AsyncIterator[bytes]:
    """Pull chunks in a worker thread; always close the reader (client gone or not).

    A ticket's bandwidth limit is applied by sleeping between chunks (no thread is held), its
    lease is renewed while the bytes flow, and the ticket is closed at the end, which frees the
    user's concurrent-download slot.
    """
    throttle = ticket.throttle if ticket else None
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                return
            if throttle is not None:
                wait = throttle.delay(len(chunk))
                if wait > 0:
                    await anyio.sleep(wait)
            if ticket is not None and ticket.renewal_due():
                await anyio.to_thread.run_sync(ticket.renew)
            yield chunk
    finally:
        with anyio.CancelScope(shield=True):  # the slot and the reader are freed regardless
            await close_ticket(ticket)
            close = getattr(chunks, "close", None)
            if close is not None:
                await anyio.to_thread.run_sync(close)


async def close_ticket(ticket: Ticket | None) -> None:
    """Free a ticket's slot (a write to the account store: in a worker thread)."""
    if ticket is not None:
        await anyio.to_thread.run_sync(ticket.close)


async def media_response(request: Request, media: Media, error: ErrorResponse) -> Response:
    """The response to a GET or HEAD of ``media``."""
    headers = base_headers(media)
    status = _precondition(request, media)
    if status == 304:
        return Response(status_code=304, headers={k: v for k, v in headers.items()
                                                  if k in ("ETag", "Last-Modified")})  # fmt: skip
    if status == 412:
        return error(412, "Precondition failed", {})
    byte_range: ByteRange | None = None
    range_header = request.headers.get("range")
    if range_header is not None and _range_applies(request, media):
        try:
            byte_range = parse_range(range_header, media.size)
        except RangeError as exc:
            extra = {"Content-Range": f"bytes */{media.size}"} if exc.status == 416 else {}
            return error(exc.status, exc.message, extra)
    ticket = None
    if request.method == "GET" and media.admit is not None:
        start = byte_range.start if byte_range else 0
        length = byte_range.length if byte_range else media.size
        ticket = await anyio.to_thread.run_sync(media.admit, start, length)
    if media.accel_path is not None and request.method == "GET":
        # nginx serves the bytes (and the range) from its internal location.
        headers["X-Accel-Redirect"] = media.accel_path
        if ticket is not None and ticket.throttle is not None:
            headers["X-Accel-Limit-Rate"] = str(ticket.throttle.rate)
        await close_ticket(ticket)  # nginx's own limits govern the transfer from here
        return Response(status_code=200, headers=headers)
    shown = byte_range or (ByteRange(0, media.size - 1) if media.size else None)
    if shown is not None:
        headers["Content-Range"] = f"bytes {shown.start}-{shown.end}/{media.size}"
    headers["Content-Length"] = str(shown.length if shown else 0)
    status = 206 if byte_range is not None else 200
    if request.method == "HEAD" or shown is None:
        await close_ticket(ticket)
        return Response(status_code=status, headers=headers)
    try:
        chunks = await anyio.to_thread.run_sync(media.reader, byte_range)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await close_ticket(ticket)
        raise
    return StreamingResponse(stream_chunks(chunks, ticket), status_code=status, headers=headers)
