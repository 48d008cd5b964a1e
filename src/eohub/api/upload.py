"""``POST /api/upload`` (also under ``/dhus`` and ``/apihub``): one product, multipart, UPLOAD role.

The body is parsed as it arrives (python-multipart's streaming parser) and the ``product``
file part is written straight to ``<data_dir>/uploads/<random>/<file name>`` with its MD5
computed on the way; at most about one MiB of it is in memory at a time. The product is then
ingested in a worker thread and the upload folder removed, whatever happened, also when the
client goes away mid-upload.

Answers: 201 ``{"id", "name", "outcome", "md5", "size", "collection",
"ignored_collections"}`` when the product was ingested (or replaced an older reprocessing);
409 when it is already in the catalogue; 400 for a refused file name, a missing part, a
malformed body or a product the pipeline rejects (with the reason); 415 for a body that is
not ``multipart/form-data``; 503 when the archive or catalogue is unavailable. The optional
``collections`` field is accepted and echoed as ``ignored_collections``: eohub files every
product in its mission collection.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect

from eohub.api.auth import authorize
from eohub.errors import Conflict
from eohub.ingest.pipeline import Ingestor, Outcome
from eohub.ingest.uploads import (
    InvalidUpload,
    RejectedUpload,
    UploadFile,
    Uploads,
    check_upload_name,
)
from eohub.model.user import Role
from eohub.wiring import Hub

log = logging.getLogger("eohub.api.upload")

PREFIXES = ("", "/dhus", "/apihub")
FLUSH_BYTES = 1 << 20
"""Received bytes are handed to a worker thread for writing once this many are buffered."""
MAX_FIELD_BYTES = 64 * 1024
"""Largest text field kept (``collections``); other fields are read and dropped."""
_PRODUCT, _COLLECTIONS = "product", "collections"

router = APIRouter()


def uploads_of(request: Request) -> Uploads:
    """The upload service of the app's hub, made on first use."""
    hub: Hub = request.app.state.hub
    uploads: Uploads | None = getattr(request.app.state, "uploads", None)
    if uploads is None:
        # No quarantine: a rejected upload is deleted and the client told why.
        ingestor = Ingestor(hub.catalogue, hub.store)
        uploads = Uploads(hub.settings.data_dir / "uploads", ingestor)
        request.app.state.uploads = uploads
    return uploads


def json_response(body: dict[str, Any], status: int) -> Response:
    """A JSON answer."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(status: int, code: str, message: str) -> Response:
    """eohub's plain error envelope with any status (415, 503...)."""
    return json_response({"error": {"code": code, "message": message}}, status)


class Spool:
    """Bytes on their way to an :class:`UploadFile`, written by a worker thread per MiB."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.target: UploadFile | None = None

    async def flush(self, *, force: bool = False) -> None:
        """Write the buffer out when it is large enough (or ``force``)."""
        if self.target is None or not self.buffer:
            return
        if force or len(self.buffer) >= FLUSH_BYTES:
            data, self.buffer = self.buffer, bytearray()
            await anyio.to_thread.run_sync(self.target.write, data)


class _Form:
    """python-multipart callbacks: the product part goes to the spool, text fields are kept."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.filename: str | None = None
        self.product_done = False
        self.fields: dict[str, list[str]] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._part: str | None = None  # name of the current part
        self._kept: bytearray | None = None  # data of a text field being kept
        self._in_product = False

    def callbacks(self) -> dict[str, Any]:
        """The callback table of :class:`MultipartParser`."""
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        }

    def _part_begin(self) -> None:
        self._disposition, self._part, self._kept, self._in_product = b"", None, None, False

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._part = options.get(b"name", b"").decode("utf-8", "replace")
        if self._part == _PRODUCT:
            if self.filename is not None:
                raise InvalidUpload("more than one 'product' part: upload one product at a time")
            if b"filename" not in options:
                raise InvalidUpload("the 'product' part must be a file (with a filename)")
            self.filename = check_upload_name(options[b"filename"].decode("utf-8", "replace"))
            self._in_product = True
        elif b"filename" not in options and self._part == _COLLECTIONS:
            self._kept = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_product:
            self.spool.buffer.extend(data[start:end])
        elif self._kept is not None:
            if len(self._kept) + end - start > MAX_FIELD_BYTES:
                raise InvalidUpload(f"the '{self._part}' field is larger than {MAX_FIELD_BYTES}")
            self._kept.extend(data[start:end])

    def _part_end(self) -> None:
        if self._in_product:
            self.product_done = True
        elif self._kept is not None and self._part:
            text = self._kept.decode("utf-8", "replace")
            self.fields.setdefault(self._part, []).append(text)
        self._in_product, self._kept = False, None

    def collections(self) -> list[str]:
        """Names given in ``collections`` fields (comma-separated or repeated)."""
        raw = self.fields.get(_COLLECTIONS, [])
        return [name.strip() for text in raw for name in text.split(",") if name.strip()]


async def _receive(
    chunks: AsyncIterator[bytes], boundary: bytes, uploads: Uploads, spool: Spool
) -> _Form:
    """Parse the body, creating the product file when its part starts."""
    form = _Form(spool)
    try:
        parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
    except FormParserError as exc:
        raise InvalidUpload(f"malformed multipart body: {exc}") from None
    async for chunk in chunks:
        try:
            parser.write(chunk)
        except FormParserError as exc:
            raise InvalidUpload(f"malformed multipart body: {exc}") from None
        if form.filename is not None and spool.target is None:
            spool.target = await anyio.to_thread.run_sync(uploads.new_file, form.filename)
        await spool.flush()
    try:
        parser.finalize()
    except FormParserError as exc:
        raise InvalidUpload(f"malformed multipart body: {exc}") from None
    if form.filename is None:
        raise InvalidUpload("the request has no 'product' file part")
    if not form.product_done:
        raise InvalidUpload("the multipart body ends inside the 'product' part")
    await spool.flush(force=True)
    return form


async def upload(request: Request) -> Response:
    """Receive one product and ingest it (see the module docstring for the answers)."""
    user = await authorize(request, Role.UPLOAD)
    kind, params = parse_options_header(request.headers.get("content-type"))
    if kind != b"multipart/form-data":
        message = "send the product as multipart/form-data with a 'product' file part"
        return error_response(415, "unsupported_media_type", message)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidUpload("the multipart/form-data content type has no boundary")
    uploads = uploads_of(request)
    spool = Spool()
    try:
        form = await _receive(request.stream(), boundary, uploads, spool)
        assert spool.target is not None
        md5 = await anyio.to_thread.run_sync(spool.target.finish)
    except BaseException as exc:  # also a disconnect or a cancellation: leave nothing behind
        if spool.target is not None:
            uploads.remove(spool.target)
        if isinstance(exc, ClientDisconnect):
            log.info("upload by %s aborted by the client", user.username)
            return Response(status_code=400)  # nobody is listening any more
        raise
    return await _ingest(uploads, spool.target, md5, form.collections())


async def _ingest(uploads: Uploads, target: UploadFile, md5: str, ignored: list[str]) -> Response:
    result = await anyio.to_thread.run_sync(uploads.ingest_file, target)
    product = result.product
    if result.outcome is Outcome.DUPLICATE:
        assert product is not None
        raise Conflict(f"product {product.name} is already in the catalogue (Id {product.id})")
    if result.outcome is Outcome.REJECTED:
        if result.retryable:
            message = f"the product could not be ingested now, try again later: {result.reason}"
            return error_response(503, "upload_unavailable", message)
        raise RejectedUpload(f"the product was rejected: {result.reason}")
    assert product is not None
    body = {
        "id": str(product.id),
        "name": product.name,
        "outcome": result.outcome.value,
        "md5": md5,
        "size": target.size,
        "collection": product.collection,
        "ignored_collections": ignored,
    }
    return json_response(body, 201)


for _prefix in PREFIXES:
    router.add_api_route(f"{_prefix}/api/upload", upload, methods=["POST"], status_code=201,
                         include_in_schema=not _prefix)  # fmt: skip
