"""OpenSearch load test: DHuS JSON searches returning 100 rows, against a real server.

Builds (or reuses) a SQLite catalogue of N generated products, starts ``uvicorn`` with the
hub's app factory and 2 workers on 127.0.0.1, then sends a bounded number of requests from
this process (a few keep-alive connections in threads) and prints requests/s and latency
percentiles. Every request asks for an exact count, as DHuS clients get.

    python bench/opensearch.py --products 1000000 --requests 3000
    python bench/opensearch.py --products 1000000 --reuse      # skip the catalogue build

Targets: >= 300 requests/s and p95 <= 50 ms at 1M products. The machine has 2 cores shared
by the server, the client and anything else running: treat figures as indicative.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from urllib.parse import quote

from eohub.config import Settings
from eohub.demo import generate_products
from eohub.wiring import build_hub

START = datetime(2023, 1, 1, tzinfo=UTC)
DAYS = 3 * 365
BATCH = 10_000
# Land areas sentinelsat users typically draw (lon0, lat0, lon1, lat1).
AREAS = [(-10, 36, 30, 60), (-125, 25, -70, 50), (-80, -40, -40, 5), (-15, -30, 40, 30),
         (60, 10, 120, 50), (115, -38, 150, -15)]  # fmt: skip


def build(data_dir: Path, products: int, reuse: bool) -> None:
    """Create the catalogue unless ``reuse`` and it already holds ``products`` rows."""
    settings = Settings(data_dir=data_dir)
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{settings.sqlite_path}{suffix}").unlink(missing_ok=True)
    hub = build_hub(settings)
    try:
        from eohub.query import Query

        have = hub.catalogue.count(Query())
        if reuse and have == products:
            print(f"reusing {have} products in {settings.sqlite_path}")
            return
        started = time.perf_counter()
        stream = generate_products(products, seed=0, start=START, days=DAYS)
        while batch := list(islice(stream, BATCH)):
            hub.catalogue.upsert(batch)
        print(f"loaded {products} products in {time.perf_counter() - started:.0f} s")
    finally:
        hub.close()


def queries(count: int, seed: int = 1) -> list[str]:
    """Request paths: sentinelsat-style searches (dates, platform, cloud, area), 100 rows."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        day = START + timedelta(days=rng.randrange(DAYS - 60))
        end = day + timedelta(days=rng.choice((30, 60)))
        x0, y0, x1, y1 = rng.choice(AREAS)
        area = f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"
        parts = [
            f'beginPosition:["{day:%Y-%m-%dT%H:%M:%SZ}" TO "{end:%Y-%m-%dT%H:%M:%SZ}"]',
            rng.choice(
                (
                    'cloudcoverpercentage:["0" TO "60"] platformname:"Sentinel-2"',
                    'platformname:"Sentinel-1"',
                    "producttype:GRD",
                    "",
                )
            ),  # fmt: skip
            f'footprint:"Intersects({area})"',
        ]
        q = " ".join(p for p in parts if p)
        out.append(f"/dhus/search?format=json&rows=100&start=0&q={quote(q)}")
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EOHUB_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "eohub.api.app:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--log-level", "warning", "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start")


def load(port: int, paths: list[str], concurrency: int, max_seconds: float) -> dict[str, float]:
    """Send every path once (bounded by ``max_seconds``); latencies in milliseconds."""
    latencies: list[float] = []
    hits: list[int] = []
    errors = [0]
    lock = threading.Lock()
    cursor = iter(paths)
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                path = next(cursor, None)
            if path is None:
                break
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    errors[0] += 1
                else:
                    hits.append(int(json.loads(body)["feed"]["opensearch:totalResults"]))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "seconds": wall,
        "rps": len(latencies) / wall,
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[int(len(ordered) * 0.95)],
        "p99": ordered[int(len(ordered) * 0.99)],
        "mean_hits": statistics.mean(hits) if hits else 0.0,
        "full_pages": sum(1 for h in hits if h >= 100) / max(1, len(hits)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep an existing catalogue")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args()
    data_dir = args.data_dir or Path("bench/out") / f"opensearch-{args.products}"
    build(data_dir, args.products, args.reuse)
    port = _free_port()
    server = start_server(data_dir, port, args.workers)
    try:
        load(port, queries(50, seed=99), args.concurrency, 60)  # warm caches and pools
        result = load(port, queries(args.requests), args.concurrency, args.max_seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"products        {args.products}")
    print(f"workers         {args.workers} (uvicorn), client threads {args.concurrency}")
    print(f"requests        {result['requests']:.0f} ({result['errors']:.0f} errors) "
          f"in {result['seconds']:.1f} s")  # fmt: skip
    print(f"throughput      {result['rps']:.0f} requests/s")
    print(f"latency p50     {result['p50']:.1f} ms")
    print(f"latency p95     {result['p95']:.1f} ms")
    print(f"latency p99     {result['p99']:.1f} ms")
    print(f"matches (mean)  {result['mean_hits']:.0f}, full 100-row pages "
          f"{100 * result['full_pages']:.0f} %")  # fmt: skip


if __name__ == "__main__":
    main()
