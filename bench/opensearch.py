"""OpenSearch load test: DHuS JSON searches returning 100 rows, against a real server.

Builds (or reuses) a SQLite catalogue of N generated products, starts ``uvicorn`` with the
hub's app factory and 2 workers on 127.0.0.1, then sends a bounded number of requests from
this process (a few keep-alive connections in threads) and prints requests/s and latency
percentiles. Every request asks for an exact count, as DHuS clients get, and every answer is
checked: HTTP 200, a JSON feed with as many entries as the page should hold.

Wall-clock figures depend on whatever else runs on the machine, so the CPU time of one request
is printed too: in this process for the handler's path alone (parse, search with its count,
feed, JSON), in the server's workers per request served, and in this client per request.

    python bench/opensearch.py --products 1000000 --requests 3000
    python bench/opensearch.py --products 1000000 --reuse      # skip the catalogue build

Targets: >= 300 requests/s and p95 <= 50 ms at 1M products. The machine has 2 cores shared
by the server, the client and anything else running: treat figures as indicative.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import random
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from urllib.parse import quote

import orjson

from bench_server import children, cpu_seconds, free_port, start_server
from eohub.api.opensearch import run_search
from eohub.config import Settings
from eohub.demo import generate_products
from eohub.protocols.dhus.opensearch import decode_params
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
            started = time.perf_counter()
            rendered = hub.catalogue.backend.refresh_documents()  # kinds added since the build
            if rendered:
                print(f"stored {rendered} missing documents in "
                      f"{time.perf_counter() - started:.0f} s")  # fmt: skip
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


def in_process(data_dir: Path, paths: list[str], search_index: bool = True) -> float:
    """CPU milliseconds per request of the handler's path, without HTTP (after a warm-up).

    The server's own code for the request (``eohub.api.opensearch.run_search``: parse,
    search with its count, feed, JSON), without HTTP. Start-up objects are frozen out of
    the garbage collector first, as the server does.
    """
    hub = build_hub(Settings(data_dir=data_dir, catalogue={"memory_index": search_index}))
    gc.freeze()
    try:
        rss = _rss_mb()
        started = time.perf_counter()
        state = hub.catalogue.prepare_search_index(wait_s=900)
        print(f"search index {state} in {time.perf_counter() - started:.1f} s, "
              f"+{_rss_mb() - rss:.0f} MB resident")  # fmt: skip
        params = [decode_params(path.partition("?")[2].encode()) for path in paths]
        now = datetime.now(UTC)

        def handle(p: dict[str, str]) -> bytes:
            return run_search(hub, p, now, "http://127.0.0.1/")[0]

        for p in params[:20]:
            handle(p)
        started = time.process_time()
        for p in params:
            handle(p)
        return (time.process_time() - started) * 1000 / len(params)
    finally:
        hub.close()


def warm_file_cache(path: Path) -> None:
    """Read the catalogue file once, so the run measures a server whose file sits in the page
    cache (its steady state when memory allows), not the disk: the 100 entries of a page
    lie at random places in the file."""
    started = time.perf_counter()
    size = 0
    with open(path, "rb") as file:
        while chunk := file.read(1 << 24):
            size += len(chunk)
    print(f"read {size / 1e9:.1f} GB of catalogue into the page cache in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _check(status: int, kind: str | None, body: bytes, rows: int) -> int | None:
    """The total of a correct answer (200, a JSON feed, a full page's entries), else None."""
    if status != 200 or kind != "application/json":
        return None
    try:
        feed = orjson.loads(body)["feed"]
        total = int(feed["opensearch:totalResults"])
        entries = feed.get("entry", [])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    count = len(entries) if isinstance(entries, list) else 1
    return total if count == min(rows, total) else None


def _check_feed(status: int, kind: str | None, body: bytes) -> int | None:
    return _check(status, kind, body, 100)


def load(
    port: int,
    paths: list[str],
    concurrency: int,
    max_seconds: float,
    check: Callable[[int, str | None, bytes], int | None] = _check_feed,
) -> dict[str, float]:
    """Send every path once (bounded by ``max_seconds``); latencies in milliseconds.

    ``check`` returns the total of a correct answer (status, content type, body), else None.
    """
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
            total = check(response.status, response.getheader("content-type"), body)
            with lock:
                latencies.append(elapsed)
                if total is None:
                    errors[0] += 1
                else:
                    hits.append(total)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    client_cpu = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "seconds": wall,
        "client_ms": client_cpu * 1000 / max(1, len(latencies)),
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
    parser.add_argument("--cpu-requests", type=int, default=300, help="in-process CPU sample")
    parser.add_argument(
        "--cold-file-cache",
        dest="warm_file_cache",
        action="store_false",
        help="do not read the catalogue file into the page cache first",
    )
    parser.add_argument("--no-search-index", dest="search_index", action="store_false",
                        help="SQL only: the in-memory search index turned off")  # fmt: skip
    args = parser.parse_args()
    data_dir = args.data_dir or Path("bench/out") / f"opensearch-{args.products}"
    build(data_dir, args.products, args.reuse)
    if args.warm_file_cache:
        warm_file_cache(Settings(data_dir=data_dir).sqlite_path)
    handler_ms = in_process(data_dir, queries(args.cpu_requests, seed=7), args.search_index)
    port = free_port()
    env = {} if args.search_index else {"EOHUB_CATALOGUE__MEMORY_INDEX": "false"}
    server = start_server(data_dir, port, args.workers, env, search_index=args.search_index)
    try:
        load(port, queries(50, seed=99), args.concurrency, 60)  # warm caches and pools
        workers = children(server.pid)
        server_cpu = cpu_seconds(workers)
        result = load(port, queries(args.requests), args.concurrency, args.max_seconds)
        server_ms = (cpu_seconds(workers) - server_cpu) * 1000 / max(1, result["requests"])
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
    print(f"CPU/request     {handler_ms:.1f} ms handler path (in process), "
          f"{server_ms:.1f} ms server workers, {result['client_ms']:.1f} ms client")  # fmt: skip


if __name__ == "__main__":
    main()
