"""CDSE-style OData load test: counted searches and a full harvest through nextLink pages.

Builds (or reuses) a SQLite catalogue of N generated products (the same one as
``opensearch.py``), starts ``uvicorn`` with the hub's app factory on 127.0.0.1, then:

1. sends CDSE-style searches with ``$count=true`` (the queries CDSE's documentation shows: a
   collection, one month of ``ContentDate/Start``, half of them with an
   ``OData.CSC.Intersects`` area, some with a ``cloudCover`` attribute), one client at a time
   for latency and several at once for throughput; every answer is checked (200, a
   ``@odata.count``, a full page when the count says so);
2. harvests the catalogue as a mirror would: ``$top=1000`` in the default order, following
   ``@odata.nextLink`` (a keyset ``$skiptoken``) until there is none or the bound is reached;
   every product is counted once and Ids are checked for repeats.

    python bench/cdse_odata.py --products 1000000 --reuse
    python bench/cdse_odata.py --products 100000 --harvest-max 100000

Targets at 1M products: a counted query p95 <= 100 ms; a harvest >= 20,000 products/s.
The machine has 2 cores shared by the server, the client and anything else running.
"""

from __future__ import annotations

import argparse
import http.client
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import orjson

from bench_server import children, cpu_seconds, free_port, start_server
from opensearch import AREAS, DAYS, START, build
from opensearch import load as opensearch_load

SERVICE = "/catalogue/odata/v1/Products"
COLLECTIONS = ("SENTINEL-1", "SENTINEL-2", "SENTINEL-3", "SENTINEL-5P")


def counted_queries(count: int, seed: int = 1) -> list[str]:
    """Request paths: CDSE-documented searches with ``$count=true`` and the default ``$top``."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        collection = rng.choice(COLLECTIONS)
        day = START + timedelta(days=rng.randrange(DAYS - 31))
        end = day + timedelta(days=30)
        parts = [
            f"Collection/Name eq '{collection}'",
            f"ContentDate/Start gt {day:%Y-%m-%dT%H:%M:%S.000Z}",
            f"ContentDate/Start lt {end:%Y-%m-%dT%H:%M:%S.000Z}",
        ]
        if rng.random() < 0.5:
            x0, y0, x1, y1 = rng.choice(AREAS)
            parts.append(
                "OData.CSC.Intersects(area=geography'SRID=4326;"
                f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))')"
            )
        if collection == "SENTINEL-2" and rng.random() < 0.5:
            parts.append(
                "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' "
                "and att/OData.CSC.DoubleAttribute/Value le 40.00)"
            )
        out.append(f"{SERVICE}?$filter={quote(' and '.join(parts))}&$count=true")
    return out


def _check(status: int, kind: str | None, body: bytes) -> int | None:
    """The count of a correct answer (200, JSON, a full page when the count says so)."""
    if status != 200 or kind != "application/json":
        return None
    try:
        doc = orjson.loads(body)
        total, values = int(doc["@odata.count"]), doc["value"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return total if len(values) == min(20, total) else None


def load(port: int, paths: list[str], concurrency: int, max_seconds: float) -> dict[str, float]:
    """Send every path once (bounded by ``max_seconds``), as ``opensearch.load`` does."""
    return opensearch_load(port, paths, concurrency, max_seconds, check=_check)


def harvest(port: int, page: int, max_products: int, max_seconds: float) -> dict[str, float]:
    """Follow nextLink pages of ``page`` products; counts products, pages and repeated Ids."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    path: str | None = f"{SERVICE}?$top={page}"
    seen: set[str] = set()
    repeats = pages = errors = 0
    started = time.perf_counter()
    deadline = time.monotonic() + max_seconds
    while path and len(seen) < max_products and time.monotonic() < deadline:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            errors += 1
            break
        doc = orjson.loads(body)
        pages += 1
        for entity in doc["value"]:
            if entity["Id"] in seen:
                repeats += 1
            seen.add(entity["Id"])
        link = doc.get("@odata.nextLink")
        path = None
        if link:
            parts = urlsplit(link)
            path = f"{parts.path}?{parts.query}"
    wall = time.perf_counter() - started
    conn.close()
    return {"products": len(seen), "pages": pages, "repeats": repeats, "errors": errors,
            "seconds": wall, "rate": len(seen) / wall, "complete": float(path is None)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep an existing catalogue")
    parser.add_argument("--requests", type=int, default=400, help="counted queries")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--harvest-page", type=int, default=1000)
    parser.add_argument("--harvest-max", type=int, default=1_000_000)
    args = parser.parse_args()
    data_dir = args.data_dir or Path("bench/out") / f"opensearch-{args.products}"
    build(data_dir, args.products, args.reuse)
    port = free_port()
    server = start_server(data_dir, port, args.workers)
    try:
        load(port, counted_queries(40, seed=99), 2, 60)  # warm caches and pools
        workers = children(server.pid)
        before = cpu_seconds(workers)
        single = load(port, counted_queries(args.requests // 2, seed=1), 1, args.max_seconds)
        many = load(port, counted_queries(args.requests, seed=2), args.concurrency,
                    args.max_seconds)  # fmt: skip
        served = single["requests"] + many["requests"]
        query_ms = (cpu_seconds(workers) - before) * 1000 / max(1, served)
        before = cpu_seconds(workers)
        harvested = harvest(port, args.harvest_page, args.harvest_max, args.max_seconds * 4)
        harvest_us = (cpu_seconds(workers) - before) * 1e6 / max(1, harvested["products"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"products          {args.products}, server workers {args.workers} (uvicorn)")
    for label, r in (("1 client", single), (f"{args.concurrency} clients", many)):
        print(f"$count=true, {label:<10} {r['requests']:.0f} requests ({r['errors']:.0f} "
              f"errors), {r['rps']:.0f} req/s, p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
              f"p99 {r['p99']:.1f} ms")  # fmt: skip
    print(f"server CPU/query  {query_ms:.1f} ms")
    print(f"harvest           {harvested['products']:.0f} products in "
          f"{harvested['pages']:.0f} pages of {args.harvest_page}, "
          f"{harvested['seconds']:.1f} s: {harvested['rate']:.0f} products/s "
          f"({'complete' if harvested['complete'] else 'stopped at the bound'}, "
          f"{harvested['repeats']:.0f} repeated Ids, {harvested['errors']:.0f} errors), "
          f"server CPU {harvest_us:.0f} us/product")  # fmt: skip
    print(f"measured at       {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
