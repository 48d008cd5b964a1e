"""Download throughput and memory of ``Products('id')/$value``, against nginx serving the file.

What it does (everything on 127.0.0.1, every loop bounded, every process it starts stopped):
1. builds a hub in a temporary folder and stores a ``--size-mb`` product (random bytes, stored
   through the archive like an ingested product) and a small one for the concurrency run;
2. starts eohub (uvicorn, one worker) twice: streaming the bytes itself, and in production mode
   (``server.accel_redirect_prefix``) behind nginx, which then sends the file;
3. starts nginx (Debian ``nginx-light``; config written to the temporary folder, not a daemon)
   serving the same archive file directly;
4. downloads with ``curl`` (best of ``--repeat``), prints throughput and the ratio to nginx;
5. reads the eohub server's RSS before and after, and its peak (``VmHWM``);
6. runs ``--concurrent`` simultaneous downloads of the small product (``curl --parallel``) and
   counts errors.

Run: ``.venv/bin/python bench/download.py [--size-mb 1024] [--concurrent 200]``.
The machine has 2 cores shared by client, server and nginx: figures are indicative.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from eohub.config import Settings
from eohub.demo.records import generate_products
from eohub.model import Checksum, Product
from eohub.storage.ports import product_key
from eohub.wiring import build_hub

ACCEL = "/_eohub_archive/"


class RandomStream(io.RawIOBase):
    """``size`` pseudo-random bytes, generated while read (constant memory)."""

    def __init__(self, size: int, seed: bytes = b"eohub") -> None:
        self.left = size
        self.block = hashlib.sha512(seed).digest() * 16384  # 1 MiB pattern
        self.turn = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left, len(self.block))
        if n <= 0:
            return 0
        rotate = self.turn % 4093
        self.turn += 1
        chunk = self.block[rotate:] + self.block[:rotate]
        buffer[:n] = chunk[:n]
        self.left -= n
        return n


def store_product(root: Path, record: Product, size: int) -> Product:
    """Put ``size`` bytes in the archive and catalogue ``record`` as their product."""
    hub = build_hub(Settings(data_dir=root))
    try:
        key = product_key(record.id, f"{record.name}.zip")
        stream: BinaryIO = io.BufferedReader(RandomStream(size), 1 << 20)  # type: ignore[arg-type]
        stored = hub.store.put(key, stream, expected_size=size)
        product = record.evolve(
            size=stored.size,
            checksums=(Checksum("MD5", stored.md5), Checksum("BLAKE3", stored.blake3)),
            online=True,
            archive_key=key,
            quicklook_key=None,
            thumbnail_key=None,
        )
        hub.catalogue.upsert([product])
        return hub.catalogue.get(product.id)
    finally:
        hub.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Wait until something accepts connections on ``port`` (or the process died)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port} (process exit code {process.poll()})")


def start_eohub(data_dir: Path, port: int, accel: bool) -> subprocess.Popen[bytes]:
    # Anonymous downloads allowed (the figures are of the byte transfer), and as many at once
    # as the concurrent run starts: the default quota lets one user have 4.
    env = dict(
        os.environ,
        EOHUB_DATA_DIR=str(data_dir),
        EOHUB_AUTH__ANONYMOUS_DOWNLOAD="true",
        EOHUB_AUTH__QUOTA__MAX_CONCURRENT="1000",
    )
    if accel:
        env["EOHUB_SERVER__ACCEL_REDIRECT_PREFIX"] = ACCEL
    code = (
        "import uvicorn; from eohub.api.app import create_app; "
        f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def start_nginx(work: Path, archive: Path, static_port: int, proxy_port: int,
                eohub_port: int) -> subprocess.Popen[bytes]:  # fmt: skip
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is not installed: apt-get install -y nginx-light")
    temp = work / "nginx"
    temp.mkdir()
    conf = temp / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {temp}/nginx.pid;
error_log {temp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{static_port};
        location /files/ {{ alias {archive}/; }}
    }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_pass http://127.0.0.1:{eohub_port};
            proxy_set_header Host $http_host;
            proxy_buffering off;
        }}
        location {ACCEL} {{
            internal;
            alias {archive}/;
            etag off;
            add_header ETag $upstream_http_etag;
        }}
    }}
}}
""")
    return subprocess.Popen([nginx, "-c", str(conf), "-p", str(temp)])


def curl_speed(url: str, repeat: int) -> tuple[float, int]:
    """Best throughput (bytes/s) of ``repeat`` downloads, and the size received."""
    best, size = 0.0, 0
    for _ in range(repeat):
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "--max-time", "300", "-w",
             "%{speed_download} %{size_download} %{http_code}", url],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        if out[2] not in ("200",):
            raise RuntimeError(f"{url}: HTTP {out[2]}")
        best, size = max(best, float(out[0])), int(out[1])
    return best, size


def rss(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def concurrent(url: str, n: int, expected: int) -> tuple[int, int, float]:
    """``n`` simultaneous downloads; (successes, failures, seconds)."""
    config = "\n".join(f'url = "{url}"\noutput = "/dev/null"' for _ in range(n))
    started = time.monotonic()
    result = subprocess.run(
        ["curl", "-s", "--parallel", "--parallel-immediate", "--parallel-max", str(n),
         "--max-time", "300", "-w", "%{http_code} %{size_download}\\n", "-K", "-"],
        input=config, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    lines = [ln.split() for ln in result.stdout.splitlines() if ln.strip()]
    ok = sum(1 for code, size in lines if code == "200" and int(size) == expected)
    return ok, n - ok, elapsed


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--small-mb", type=int, default=8)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eohub-bench-dl-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user and read the archive
    processes: list[subprocess.Popen[bytes]] = []
    try:
        data = work / "hub"
        big_record, small_record = list(generate_products(2, seed=42))
        t0 = time.monotonic()
        big = store_product(data, big_record, args.size_mb << 20)
        small = store_product(data, small_record, args.small_mb << 20)
        print(f"stored {big.size / 2**20:.0f} MiB + {small.size / 2**20:.0f} MiB "
              f"in {time.monotonic() - t0:.1f} s")  # fmt: skip
        archive = data / "archive"
        direct_port, accel_port, static_port, proxy_port = (free_port() for _ in range(4))
        direct = start_eohub(data, direct_port, accel=False)
        processes.append(direct)
        accel = start_eohub(data, accel_port, accel=True)
        processes.append(accel)
        nginx = start_nginx(work, archive, static_port, proxy_port, accel_port)
        processes.append(nginx)
        for port, process in ((direct_port, direct), (accel_port, accel),
                              (static_port, nginx), (proxy_port, nginx)):  # fmt: skip
            wait_port(port, process)
        value = f"/odata/v1/Products('{big.id}')/$value"
        assert big.archive_key is not None
        before = rss(direct.pid)
        nginx_speed, size = curl_speed(
            f"http://127.0.0.1:{static_port}/files/{big.archive_key}", args.repeat
        )
        eohub_speed, got = curl_speed(f"http://127.0.0.1:{direct_port}{value}", args.repeat)
        accel_speed, got_accel = curl_speed(f"http://127.0.0.1:{proxy_port}{value}", args.repeat)
        after = rss(direct.pid)
        assert size == got == got_accel == big.size, (size, got, got_accel)
        small_url = f"http://127.0.0.1:{direct_port}/odata/v1/Products('{small.id}')/$value"
        ok, failed, seconds = concurrent(small_url, args.concurrent, small.size)
        peak = rss(direct.pid)
        mib = 2**20
        print()
        print(f"| {'download of ' + str(args.size_mb) + ' MiB':<44} | {'MiB/s':>8} | vs nginx |")
        print(f"|{'-' * 46}|{'-' * 10}|{'-' * 10}|")
        for label, speed in (
            ("nginx static file (sendfile)", nginx_speed),
            ("eohub streaming (uvicorn, 1 worker)", eohub_speed),
            ("eohub behind nginx (X-Accel-Redirect)", accel_speed),
        ):
            print(f"| {label:<44} | {speed / mib:>8.0f} | {speed / nginx_speed:>7.0%} |")
        print()
        print(f"eohub RSS: before {before['VmRSS'] / 1024:.0f} MiB, after "
              f"{after['VmRSS'] / 1024:.0f} MiB, peak {after['VmHWM'] / 1024:.0f} MiB "
              f"(downloads of {args.repeat} x {args.size_mb} MiB)")  # fmt: skip
        print(f"{args.concurrent} concurrent downloads of {args.small_mb} MiB: {ok} ok, "
              f"{failed} failed, {seconds:.1f} s; eohub RSS {peak['VmRSS'] / 1024:.0f} MiB, "
              f"peak {peak['VmHWM'] / 1024:.0f} MiB")  # fmt: skip
        print("(2 cores shared by curl, nginx and eohub, with other work on the machine: noisy)")
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
