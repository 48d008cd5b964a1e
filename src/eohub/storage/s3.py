"""The archive in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Ceph RGW...), via boto3.

``put`` reads and hashes the stream one part at a time while the previous part uploads (memory:
two part buffers, reused from part to part). A small stream is one ``PutObject``; a larger one
is a multipart upload that is aborted on any failure, so no partial object ever appears.

Integrity of the bytes sent: a ``PutObject`` carries ``Content-MD5`` (the MD5 we compute anyway)
and each part a CRC32 header (``x-amz-checksum-crc32``, the upload created with that algorithm);
the server refuses a body that does not match, and answers a part with the CRC32 of what it
received, which is compared with ours. These two bodies are not SHA-256 signed
(``UNSIGNED-PAYLOAD``, as botocore does over TLS when a checksum is sent): the SigV4 payload
hash costs more (0.84 CPU s/GB against 0.48 for CRC32) and SeaweedFS does not even check it, it
stores a body altered after signing. A server that answers a part without its CRC32 has not
computed it: that part is sent again with a signed payload, and so is every later part of this
store. Every other request is signed as usual; against tampering use TLS (``https``).

S3 fixes an object's metadata when an upload starts, before the checksums are known, so a
multipart object is created with the marker ``x-amz-meta-eohub-pending`` and then given its
``md5`` and ``blake3`` by a server-side copy onto itself (a metadata-only operation on most
servers). Until then every read treats the key as not stored. botocore errors are translated
at this boundary into ``StorageError`` subclasses.
"""

from __future__ import annotations

import base64
import io
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, BinaryIO, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from eohub.storage.checksums import Digests, DualHasher, read_into
from eohub.storage.errors import (
    IncompleteWrite,
    ObjectNotFound,
    StorageBackendError,
    StorageError,
)
from eohub.storage.ports import ByteRange, StoredObject, validate_key, validate_prefix
from eohub.storage.s3_support import MISSING, RangedReader, translate_error

MiB = 1 << 20
GiB = 1 << 30
PENDING = "eohub-pending"
_MAX_PARTS = 10_000
_READ_CHUNK = MiB
#: Parts uploading while the next one is read and hashed.
_IN_FLIGHT = 1
T = TypeVar("T")


class S3Store:
    """An ``ObjectStore`` in one bucket (optionally under a key prefix) of any S3 server."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        prefix: str = "",
        part_size: int = 16 * MiB,
        create_bucket: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
        copy_limit: int = 5 * GiB,
    ) -> None:
        if not isinstance(bucket, str) or not 3 <= len(bucket) <= 63:
            raise StorageError(f"S3 bucket name {bucket!r} must be 3 to 63 characters")
        if not 5 * MiB <= part_size <= 5 * GiB:
            raise StorageError(f"S3 part size {part_size} must be between 5 MiB and 5 GiB")
        if (access_key is None) != (secret_key is None):
            raise StorageError("give both the S3 access key and the secret key, or neither")
        prefix = prefix.strip("/")
        self.prefix = validate_key(prefix) + "/" if prefix else ""
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.part_size = part_size
        self.copy_limit = copy_limit
        self._where = f"bucket {bucket!r} at {endpoint_url or 'AWS S3'}"
        session = boto3.session.Session()

        def client(**s3_options: Any) -> Any:
            config = Config(
                s3={"addressing_style": "path", **s3_options} if endpoint_url else s3_options,
                retries={"max_attempts": max_attempts, "mode": "standard"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_pool_connections=16,
                # The newer default (CRC trailers in aws-chunked bodies) is not understood by
                # every S3-compatible server: the checksums are sent as plain headers instead.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            return session.client(
                "s3",
                endpoint_url=endpoint_url,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
                config=config,
            )

        self._client: Any = client()
        # Bodies with their own checksum header (see the module's docstring).
        self._bulk: Any = client(payload_signing_enabled=False)
        self._crc_checked = True  # False once the server answered a part without its CRC32
        if create_bucket:
            self._ensure_bucket(region)

    def __repr__(self) -> str:
        return f"S3Store({self._where}, prefix={self.prefix!r})"

    # -- error translation -----------------------------------------------------------------

    def _call(self, action: str, key: str | None, operation: Callable[..., T], **kw: Any) -> T:
        """Run one botocore operation; its errors become StorageError subclasses."""
        try:
            return operation(Bucket=self.bucket, **kw)
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, action, key) from exc

    def _translate(self, exc: Exception, action: str, key: str | None) -> StorageError:
        return translate_error(exc, action, key, self._where, self.endpoint_url or "AWS")

    def _ensure_bucket(self, region: str) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket"):
                raise self._translate(exc, "checking", None) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "checking", None) from exc
        extra: dict[str, Any] = {}
        if region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._call("creating the bucket", None, self._client.create_bucket, **extra)
        except StorageBackendError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and "AlreadyOwned" in str(cause)):
                raise

    def _bucket_missing(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            return str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket")
        except BotoCoreError as exc:
            raise self._translate(exc, "checking", None) from exc
        return False

    # -- writing ---------------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, *, expected_size: int | None = None) -> StoredObject:
        """Store the stream under ``key`` with its MD5 and BLAKE3; atomic."""
        key = validate_key(key)
        with DualHasher() as hasher:
            first = self._read_part(stream, hasher, key, 0, expected_size, None)
            if len(first) < self.part_size:
                digests = self._check_size(hasher.digests(), key, expected_size)
                self._call(
                    "storing",
                    key,
                    self._bulk.put_object,
                    Key=self.prefix + key,
                    Body=first,
                    ContentMD5=base64.b64encode(bytes.fromhex(digests.md5)).decode(),
                    ContentType="application/octet-stream",
                    Metadata={"md5": digests.md5, "blake3": digests.blake3},
                )
            else:
                digests = self._put_multipart(key, stream, hasher, first, expected_size)
        head = self._head(key)
        if head is None:
            raise StorageBackendError(f"{key!r} is not readable right after it was stored")
        return self._stored(key, head)

    def _read_part(
        self,
        stream: BinaryIO,
        hasher: DualHasher,
        key: str,
        done: int,
        expected: int | None,
        buffer: bytearray | None,
    ) -> bytearray:
        """Up to one part from the stream, read straight into ``buffer`` and hashed.

        Returns ``buffer`` (a new one when None) when the part is full, else a copy of the
        bytes read, so that a short last part does not send the buffer's stale tail.
        """
        part = bytearray(self.part_size) if buffer is None else buffer
        view = memoryview(part)
        filled = 0
        while filled < self.part_size:
            count = read_into(stream, view[filled : filled + _READ_CHUNK], repr(key))
            if not count:
                break
            if expected is not None and done + filled + count > expected:
                raise IncompleteWrite(
                    f"stream for {key!r} is longer than the expected {expected} bytes; "
                    "nothing stored"
                )
            hasher.update(view[filled : filled + count])
            filled += count
        return part if filled == self.part_size else bytearray(view[:filled])

    @staticmethod
    def _check_size(digests: Digests, key: str, expected: int | None) -> Digests:
        if expected is not None and digests.size != expected:
            raise IncompleteWrite(
                f"stream for {key!r} ended after {digests.size} of the expected {expected} "
                "bytes; nothing stored"
            )
        return digests

    def _put_multipart(
        self,
        key: str,
        stream: BinaryIO,
        hasher: DualHasher,
        first: bytearray,
        expected: int | None,
    ) -> Digests:
        full = self.prefix + key
        created = self._call(
            "starting the upload of",
            key,
            self._client.create_multipart_upload,
            Key=full,
            ContentType="application/octet-stream",
            Metadata={PENDING: "1"},
            ChecksumAlgorithm="CRC32",  # AWS refuses part checksums of an upload without it
        )
        upload_id = str(created["UploadId"])
        try:
            parts = self._upload_parts(key, stream, hasher, first, upload_id, expected)
            digests = self._check_size(hasher.digests(), key, expected)
            completed = self._call(
                "completing the upload of",
                key,
                self._client.complete_multipart_upload,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with suppress(Exception):  # the server may be gone; cleanup_partials() aborts later
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id
                )
            raise
        try:
            self._set_checksums(key, digests, str(completed.get("ETag", "")))
        except BaseException:
            with suppress(Exception):  # a pending object is invisible; remove it if we can
                self._client.delete_object(Bucket=self.bucket, Key=full)
            raise
        return digests

    def _upload_parts(
        self,
        key: str,
        stream: BinaryIO,
        hasher: DualHasher,
        data: bytearray,
        upload_id: str,
        expected: int | None,
    ) -> list[dict[str, Any]]:
        """Upload parts in helper threads while the next one is read and hashed.

        A part's buffer is filled again only once its upload has returned (botocore's retries
        included), so ``_IN_FLIGHT + 1`` buffers serve the whole object.
        """
        parts: list[dict[str, Any]] = []
        spares: list[bytearray] = []
        done = 0
        # Leaving the executor waits for parts still in flight, so an abort comes after them.
        with ThreadPoolExecutor(_IN_FLIGHT, thread_name_prefix="eohub-s3-part") as uploader:
            in_flight: deque[tuple[Future[dict[str, Any]], bytearray]] = deque()
            while data:
                number = len(parts) + len(in_flight) + 1
                if number > _MAX_PARTS:
                    raise StorageError(
                        f"{key!r} needs more than {_MAX_PARTS} parts of {self.part_size} "
                        "bytes; configure a larger S3 part size"
                    )
                if len(in_flight) >= _IN_FLIGHT:
                    finished, buffer = in_flight.popleft()
                    parts.append(finished.result())
                    spares.append(buffer)
                upload = uploader.submit(self._upload_part, key, upload_id, number, data)
                in_flight.append((upload, data))
                done += len(data)
                if len(data) < self.part_size:
                    break
                spare = spares.pop() if spares else None
                data = self._read_part(stream, hasher, key, done, expected, spare)
            parts.extend(upload.result() for upload, _ in in_flight)
        return parts

    def _upload_part(
        self, key: str, upload_id: str, number: int, data: bytearray
    ) -> dict[str, Any]:
        """One part with its CRC32; sent again signed if the server did not answer with it."""
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        action = f"uploading part {number} of"
        options = {
            "Key": self.prefix + key,
            "UploadId": upload_id,
            "PartNumber": number,
            "Body": data,
            "ChecksumCRC32": crc,
        }
        if self._crc_checked:
            answer = self._call(action, key, self._bulk.upload_part, **options)
            echoed = answer.get("ChecksumCRC32")  # of the bytes the server received
            if echoed == crc:
                return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": crc}
            if echoed is not None:
                raise StorageBackendError(
                    f"{action} {key!r} failed: {self._where} computed CRC32 {echoed} for the "
                    f"part, not {crc}; nothing stored"
                )
            self._crc_checked = False
        answer = self._call(action, key, self._client.upload_part, **options)
        return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": crc}

    def _set_checksums(self, key: str, digests: Digests, etag: str) -> None:
        """Replace the pending marker by the checksums: a server-side copy onto itself."""
        full = self.prefix + key
        source = {"Bucket": self.bucket, "Key": full}
        metadata = {"md5": digests.md5, "blake3": digests.blake3}
        guard = {"CopySourceIfMatch": etag} if etag else {}
        if digests.size <= self.copy_limit:
            self._call(
                "recording the checksums of",
                key,
                self._client.copy_object,
                Key=full,
                CopySource=source,
                Metadata=metadata,
                MetadataDirective="REPLACE",
                ContentType="application/octet-stream",
                **guard,
            )
            return
        # CopyObject stops at 5 GiB: copy in ranges into a new upload that has the metadata.
        created = self._call(
            "recording the checksums of",
            key,
            self._client.create_multipart_upload,
            Key=full,
            ContentType="application/octet-stream",
            Metadata=metadata,
        )
        upload_id = str(created["UploadId"])
        try:
            parts = []
            step = max(self.part_size, -(-digests.size // _MAX_PARTS))
            for number, start in enumerate(range(0, digests.size, step), start=1):
                end = min(start + step, digests.size) - 1
                answer = self._call(
                    "recording the checksums of",
                    key,
                    self._client.upload_part_copy,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                    **guard,
                )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self._call(
                "recording the checksums of",
                key,
                self._client.complete_multipart_upload,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id
                )
            raise

    # -- reading ---------------------------------------------------------------------------

    def _head(self, key: str) -> dict[str, Any] | None:
        """HEAD of a complete object, or None (missing, or still pending)."""
        try:
            head = cast(
                dict[str, Any], self._client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in MISSING:
                if self._bucket_missing():
                    raise StorageBackendError(
                        f"reading {key!r} failed: {self._where} does not exist"
                    ) from exc
                return None
            raise self._translate(exc, "reading", key) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "reading", key) from exc
        if PENDING in head.get("Metadata", {}):
            return None
        return head

    def _stored(self, key: str, head: dict[str, Any]) -> StoredObject:
        metadata = head.get("Metadata", {})
        etag = str(head.get("ETag", "")).strip('"')
        md5 = metadata.get("md5") or ("" if "-" in etag else etag.lower())
        modified = head.get("LastModified") or datetime.now(UTC)
        return StoredObject(
            key, int(head["ContentLength"]), md5, metadata.get("blake3", ""), modified
        )

    def stat(self, key: str) -> StoredObject | None:
        """Size, checksums and time (one HEAD), or None when nothing is stored under ``key``."""
        key = validate_key(key)
        head = self._head(key)
        return None if head is None else self._stored(key, head)

    def _get(self, key: str, span: tuple[int, int] | None) -> dict[str, Any] | None:
        """GET of the whole object or of bytes ``span`` (inclusive); None past the end."""
        extra = {} if span is None else {"Range": f"bytes={span[0]}-{span[1]}"}
        try:
            answer = cast(
                dict[str, Any],
                self._client.get_object(Bucket=self.bucket, Key=self.prefix + key, **extra),
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) == "InvalidRange":
                if self._head(key) is None:
                    raise ObjectNotFound(key, where=self._where) from exc
                return None
            raise self._translate(exc, "reading", key) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "reading", key) from exc
        if PENDING in answer.get("Metadata", {}):
            answer["Body"].close()
            raise ObjectNotFound(key, where=self._where)
        return answer

    def open(
        self, key: str, byte_range: ByteRange | None = None, *, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """Stream the object or an inclusive range of it (one ranged GET)."""
        key = validate_key(key)
        if chunk_size <= 0:
            raise StorageError(f"chunk size must be positive, not {chunk_size}")
        span = None if byte_range is None else (byte_range.start, byte_range.end)
        answer = self._get(key, span)
        if answer is None:
            raise StorageError(f"byte range {byte_range} starts past the end of {key!r}")
        length = int(answer["ContentLength"])
        if byte_range is not None and length != byte_range.length:
            answer["Body"].close()
            total = str(answer.get("ContentRange", "")).rpartition("/")[2]
            raise StorageError(
                f"byte range {byte_range.start}-{byte_range.end} is past the end of {key!r} "
                f"({total} bytes)"
            )
        return self._chunks(answer["Body"], key, length, chunk_size)

    def _chunks(self, body: Any, key: str, length: int, chunk_size: int) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in body.iter_chunks(chunk_size):
                received += len(chunk)
                yield chunk
        except (BotoCoreError, OSError) as exc:
            raise StorageBackendError(
                f"reading {key!r} from {self._where} broke off after {received} bytes: {exc}"
            ) from exc
        finally:
            body.close()
        if received != length:
            raise StorageBackendError(
                f"reading {key!r} from {self._where} ended after {received} of {length} bytes"
            )

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start``; empty past the end."""
        key = validate_key(key)
        if start < 0 or length < 0:
            raise StorageError(f"invalid read of {length} bytes at {start}: both must be >= 0")
        if length == 0:
            if self._head(key) is None:
                raise ObjectNotFound(key, where=self._where)
            return b""
        answer = self._get(key, (start, start + length - 1))
        if answer is None:
            return b""
        return b"".join(self._chunks(answer["Body"], key, int(answer["ContentLength"]), MiB))

    def open_file(self, key: str) -> BinaryIO:
        """A seekable file object reading the object by ranged GETs, 256 KiB at a time."""
        key = validate_key(key)
        head = self._head(key)
        if head is None:
            raise ObjectNotFound(key, where=self._where)
        etag = str(head.get("ETag", ""))
        pinned = {"IfMatch": etag} if etag else {}

        def fetch(first: int, last: int) -> bytes:
            answer = self._call(
                "reading",
                key,
                self._client.get_object,
                Key=self.prefix + key,
                Range=f"bytes={first}-{last}",
                **pinned,
            )
            return b"".join(self._chunks(answer["Body"], key, last - first + 1, MiB))

        raw = RangedReader(int(head["ContentLength"]), fetch)
        return io.BufferedReader(raw, buffer_size=256 * 1024)

    # -- removing and listing --------------------------------------------------------------

    def delete(self, key: str) -> bool:
        """Remove an object; False when there was none."""
        key = validate_key(key)
        existed = self._head(key) is not None
        self._call("deleting", key, self._client.delete_object, Key=self.prefix + key)
        return existed

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under the store's prefix that starts with ``prefix`` (paginated listing)."""
        prefix = validate_prefix(prefix)
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield str(item["Key"])[len(self.prefix) :]
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, "listing", None) from exc

    def cleanup_partials(self, min_age_seconds: float = 0.0) -> int:
        """Abort multipart uploads left by crashes (under this store's prefix); how many."""
        limit = time.time() - min_age_seconds
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        aborted = 0
        try:
            for page in pages:
                for upload in page.get("Uploads", []):
                    started = upload.get("Initiated")
                    if started is not None and started.timestamp() > limit:
                        continue
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, "aborting partial uploads in", None) from exc
        return aborted
