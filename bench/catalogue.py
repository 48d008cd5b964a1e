"""Catalogue benchmark: bulk load, typical search, exact count, deep keyset paging, memory.

Generates a realistic catalogue with :func:`eohub.demo.generate_products`, loads it into the
SQLite and/or PostGIS backend and prints a small table of figures. Every search goes through
:class:`eohub.catalogue.service.Catalogue`, so queries are normalised as in production.

    python bench/catalogue.py --backend both --products 1000000
    python bench/catalogue.py --backend sqlite --products 1000000 --reuse   # skip the load

See bench/README.md for the targets and how to read the figures.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from eohub.catalogue.service import Catalogue
from eohub.demo import generate_products
from eohub.errors import HubError
from eohub.model import Footprint, Product
from eohub.query import (
    Compare,
    CompareOp,
    CountMode,
    Cursor,
    Query,
    Range,
    SortKey,
    Spatial,
    SpatialOp,
    and_,
)

START = datetime(2023, 1, 1, tzinfo=UTC)
DAYS = 3 * 365
SEED = 0
BATCH = 10_000
NEWEST_FIRST = (SortKey("sensing_start", descending=True),)
# Rough land boxes (lon0, lat0, lon1, lat1) where typical searches are centred.
LAND = [(-10, 36, 30, 60), (-125, 25, -70, 50), (-80, -40, -40, 5), (-15, -30, 40, 30),
        (60, 10, 120, 50), (115, -38, 150, -15)]  # fmt: skip

Row = tuple[str, str]


# -- backends -----------------------------------------------------------------------------------


def open_sqlite(path: Path, fresh: bool) -> Any:
    from eohub.catalogue.sqlite import SQLiteCatalogue

    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    # SQL alone: the in-memory search index (measured by opensearch.py and stac_vs_pgstac.py)
    # would answer the searches once built, and how soon depends on the machine.
    backend = SQLiteCatalogue(path, memory_index=False)
    backend.migrate()
    return backend


def _admin_dsn(dsn: str) -> tuple[str, str]:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    name = str(params.get("dbname") or "eohub_bench")
    params["dbname"] = "postgres"
    return make_conninfo("", **params), name


def open_postgis(dsn: str, fresh: bool) -> Any:
    import psycopg
    from psycopg import sql

    from eohub.catalogue.postgis import PostgisCatalogue

    admin, name = _admin_dsn(dsn)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if fresh and exists:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        if fresh or not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    backend = PostgisCatalogue(dsn)
    backend.migrate()
    return backend


def drop(kind: str, args: argparse.Namespace) -> None:
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    admin, name = _admin_dsn(args.dsn)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# -- measurements -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {_ms(cuts[49])}  p95 {_ms(cuts[94])}  p99 {_ms(cuts[98])}"


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = run()
    return time.perf_counter() - t0, result


def load(catalogue: Catalogue, n: int) -> list[Row]:
    """Stream ``n`` generated products into the catalogue; report generation and insert rates."""
    generate_s = insert_s = insert_cpu_s = 0.0
    stream: Iterator[Product] = generate_products(n, seed=SEED, start=START, days=DAYS)
    done = 0
    while done < n:  # bounded: every round consumes up to BATCH products
        t0 = time.perf_counter()
        batch = list(islice(stream, BATCH))
        t1 = time.perf_counter()
        if not batch:
            break
        c1 = time.process_time()
        catalogue.upsert(batch)
        insert_cpu_s += time.process_time() - c1
        t2 = time.perf_counter()
        generate_s += t1 - t0
        insert_s += t2 - t1
        done += len(batch)
        if done % 100_000 == 0 or done == n:
            print(f"  loaded {done:>9,}  insert {done / insert_s:,.0f}/s", flush=True)
    optimize = getattr(catalogue.backend, "optimize", None)
    analyse_s = _timed(optimize)[0] if callable(optimize) else 0.0
    return [
        ("generate", f"{done / generate_s:,.0f} products/s"),
        ("bulk insert", f"{done / insert_s:,.0f} products/s ({insert_s:.0f} s)"),
        ("  CPU of this process per product", f"{insert_cpu_s / done * 1e6:,.0f} us"),
        ("optimize/analyse after load", f"{analyse_s:.1f} s"),
    ]


def typical_query(rng: random.Random) -> Query:
    """A ~200 km polygon on land, one month of sensing, Sentinel-2, cloud cover <= 30 %."""
    x0, y0, x1, y1 = rng.choice(LAND)
    lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
    dy = 0.9
    dx = dy / max(0.2, math.cos(math.radians(lat)))
    ring = [(lon - dx, lat - dy), (lon + dx, lat - dy * 1.1), (lon + dx * 1.05, lat + dy),
            (lon - dx * 0.95, lat + dy)]  # fmt: skip
    month = START + timedelta(days=rng.uniform(0, DAYS - 31))
    return Query(
        filter=and_(
            Spatial(SpatialOp.INTERSECTS, Footprint.from_rings([ring])),
            Range("sensing_start", low=month, high=month + timedelta(days=30)),
            Compare("mission", CompareOp.EQ, "Sentinel-2"),
            Compare("cloud_cover", CompareOp.LE, 30.0),
        ),
        sort=NEWEST_FIRST,
        limit=100,
    )


def typical_searches(catalogue: Catalogue, queries: int) -> tuple[list[Row], int]:
    rng = random.Random(42)
    for _ in range(5):  # warm caches and connections
        catalogue.search(typical_query(rng))
    samples: list[float] = []
    hits = 0
    for _ in range(queries):
        elapsed, page = _timed(lambda: catalogue.search(typical_query(rng)))
        samples.append(elapsed)
        hits += len(page.items)
    return [
        (f"typical search x{queries}", _percentiles(samples)),
        ("  mean results per search", f"{hits / queries:.1f}"),
    ], hits


def exact_count(catalogue: Catalogue) -> list[Row]:
    rows: list[Row] = []
    half_way = START + timedelta(days=DAYS / 2)
    for label, node in (
        ("mission = Sentinel-2", Compare("mission", CompareOp.EQ, "Sentinel-2")),
        ("sensing_start < mid-period", Compare("sensing_start", CompareOp.LT, half_way)),
    ):
        query = Query(filter=node)
        with_items = Query(filter=node, sort=NEWEST_FIRST, limit=100, count=CountMode.EXACT)
        times = []
        total = 0
        for _ in range(3):
            t0 = time.perf_counter()
            total = catalogue.count(query)
            times.append(time.perf_counter() - t0)
        rows.append((f"exact count, {label}", f"{total:,} in {_ms(min(times))} (best of 3)"))
        t0 = time.perf_counter()
        page = catalogue.search(with_items)
        page_s = time.perf_counter() - t0
        rows.append(("  100 items + total in one search", f"{page.total:,} in {_ms(page_s)}"))
    return rows


def deep_paging(catalogue: Catalogue, depth: int = 1000) -> list[Row]:
    """Latency of keyset page 1 and page ``depth`` (100 items a page), and of the offset way."""
    base = Query(sort=NEWEST_FIRST, limit=100)
    first_s = min(_timed(lambda: catalogue.search(base))[0] for _ in range(5))
    after: Cursor | None = None
    walk_t0 = time.perf_counter()
    for _ in range(depth - 1):  # bounded walk to the cursor of page ``depth``
        page = catalogue.search(Query(sort=NEWEST_FIRST, limit=100, after=after))
        if page.next is None:
            break
        after = page.next
    walk_s = time.perf_counter() - walk_t0
    deep = Query(sort=NEWEST_FIRST, limit=100, after=after)
    deep_s = min(_timed(lambda: catalogue.search(deep))[0] for _ in range(5))
    offset = Query(sort=NEWEST_FIRST, limit=100, offset=(depth - 1) * 100)
    offset_s = min(_timed(lambda: catalogue.search(offset))[0] for _ in range(3))
    return [
        ("keyset page 1 (newest first)", _ms(first_s)),
        (f"keyset page {depth}", f"{_ms(deep_s)}  (walk of {depth - 1} pages {walk_s:.1f} s)"),
        (f"offset page {depth} (offset {(depth - 1) * 100:,})", _ms(offset_s)),
    ]


def memory(catalogue: Catalogue) -> list[Row]:
    """Python peak per search (tracemalloc) and process RSS growth over a search loop."""
    rng = random.Random(7)
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peaks: dict[str, int] = {}
    runs: dict[str, Callable[[], Any]] = {
        "typical search": lambda: catalogue.search(typical_query(rng)),
        "count of ~50%": lambda: catalogue.count(
            Query(filter=Compare("mission", CompareOp.EQ, "Sentinel-2"))
        ),
        "page of 1000 items": lambda: catalogue.search(Query(sort=NEWEST_FIRST, limit=1000)),
    }
    for label, run in runs.items():
        tracemalloc.start()
        for _ in range(5):
            run()
        peaks[label] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    for _ in range(100):
        catalogue.search(typical_query(rng))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    rows = [(f"python peak, {k}", f"{v / 2**20:.2f} MiB") for k, v in peaks.items()]
    rows.append(("max RSS growth over searches", f"{grown / 1024:.1f} MiB"))
    return rows


# -- main ---------------------------------------------------------------------------------------


def run(kind: str, args: argparse.Namespace) -> list[Row]:
    def opener(fresh: bool) -> Any:
        return open_sqlite(args.path, fresh) if kind == "sqlite" else open_postgis(args.dsn, fresh)

    try:
        backend = opener(not args.reuse)
    except HubError as exc:  # e.g. the stored schema predates a changed migration
        print(f"[{kind}] cannot reuse the stored catalogue ({exc.user_message}); reloading")
        backend = opener(True)
    catalogue = Catalogue(backend)
    rows: list[Row] = []
    try:
        stored = catalogue.count(Query())
        if stored != args.products:
            if stored:
                backend.close()
                backend = opener(True)
                catalogue = Catalogue(backend)
            print(f"[{kind}] loading {args.products:,} products ...", flush=True)
            rows += load(catalogue, args.products)
        else:
            rows.append(("bulk insert", f"reused {stored:,} stored products"))
        print(f"[{kind}] measuring ...", flush=True)
        rows += typical_searches(catalogue, args.queries)[0]
        rows += exact_count(catalogue)
        rows += deep_paging(catalogue, min(1000, max(2, args.products // 100)))
        rows += memory(catalogue)
    finally:
        backend.close()
    if args.drop:
        drop(kind, args)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgis", "both"], default="sqlite")
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--path", type=Path, default=Path("/tmp/eohub_bench.sqlite"))
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/eohub_bench")
    parser.add_argument("--reuse", action="store_true", help="keep a loaded catalogue of this size")
    parser.add_argument("--drop", action="store_true", help="delete the catalogue at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.queries <= 100_000 or not 1 <= args.products <= 50_000_000:
        parser.error("--queries must be 1..100000 and --products 1..50000000")
    kinds = ["sqlite", "postgis"] if args.backend == "both" else [args.backend]
    for kind in kinds:  # each table is printed as soon as its backend is done
        rows = run(kind, args)
        print(
            f"\n{kind}: {args.products:,} products (figures are noisy on a shared 2-core machine)"
        )
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"  {label:<{width}}  {value}", flush=True)


if __name__ == "__main__":
    main()
