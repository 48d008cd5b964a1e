"""STAC item search: the hub's ``/stac/search`` against stac-fastapi-pgstac, same items.

Builds (or reuses, ``--reuse``) the hub's SQLite catalogue of N generated products (the
catalogue of ``opensearch.py``: ``eohub.demo.generate_products``, seed 0, three years from
2023-01-01) and a pgstac database holding the same products as STAC items: rendered by the
hub's own STAC code (``eohub.protocols.stac``, see ``stac_items.py``), written as ndjson and
loaded with ``pypgstac load`` (insert_ignore) after ``pypgstac migrate``. stac-fastapi-pgstac
runs from its own virtualenv (``.bench/pgstac-venv``, created on first use, versions pinned in
``pgstac_side.py``); PostgreSQL on 127.0.0.1:5432 with trust auth for ``postgres``.

Both servers run under uvicorn on 127.0.0.1 with the same number of worker processes. Each
gets the same bounded sequence of ``GET /search?bbox=...&datetime=<one month>&limit=10`` (a
box inside one of ``opensearch.AREAS``, 25 % to 100 % of its sides; a random calendar month of
the data's three years), from a few keep-alive client threads, after 50 warm-up requests.
Every answer is checked: HTTP 200, a GeoJSON FeatureCollection of at most 10 Features.

pgstac counts nothing by default (its ``context`` setting is ``off``: no numberMatched), while
the hub always answers with the exact ``numberMatched``. So pgstac is measured with its
default and again with ``context=on`` (an exact count, like the hub), and before that a sample
of searches is sent to both with ``context=on`` to check they agree: the same numberMatched,
the same number of Features, the same ``datetime`` sequence (both sort newest first; ties may
order differently). pgstac's other settings are its documented defaults and are printed.
pgstac keeps each search's count for a day (``pgstac.searches``); it is emptied before each
of its runs, since every run sends the same sequence.

Printed for each server: requests/s, p50/p95 latency, server CPU per request (uvicorn
workers, plus for pgstac the PostgreSQL backends of its pool, from ``/proc``), and the ratio
of requests/s hub / pgstac.

    python bench/stac_vs_pgstac.py --products 10000
    python bench/stac_vs_pgstac.py --products 1000000 --data-dir /tmp/os-1m --reuse

Target: at 1M products, the hub's requests/s >= 5x stac-fastapi-pgstac's. The machine has
2 cores shared by both servers, PostgreSQL, the client and anything else running: run the
servers one after the other (as this script does) and treat figures as indicative.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import threading
import time
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import orjson

import pgstac_side
import stac_items
from bench_server import children, free_port, start_server
from eohub.config import Settings
from eohub.demo import generate_products
from opensearch import AREAS, DAYS, START, build, warm_file_cache

MONTHS = DAYS * 12 // 365  # calendar months the generated products span
GEOJSON_TYPES = ("application/geo+json", "application/json")


def searches(count: int, seed: int) -> list[str]:
    """Query strings: a box inside a land area, one calendar month, 10 items."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        x0, y0, x1, y1 = rng.choice(AREAS)
        w, h = (x1 - x0) * rng.uniform(0.25, 1.0), (y1 - y0) * rng.uniform(0.25, 1.0)
        bx, by = rng.uniform(x0, x1 - w), rng.uniform(y0, y1 - h)
        month = rng.randrange(MONTHS)
        year, mon = START.year + month // 12, month % 12 + 1
        last = monthrange(year, mon)[1]
        when = f"{year}-{mon:02d}-01T00:00:00Z/{year}-{mon:02d}-{last:02d}T23:59:59Z"
        out.append(f"bbox={bx:.3f},{by:.3f},{bx + w:.3f},{by + h:.3f}&datetime={when}&limit=10")
    return out


@dataclass
class Answer:
    """What a checked answer holds (``ok`` False: anything wrong with it)."""

    ok: bool
    matched: int | None = None
    datetimes: list[str] = field(default_factory=list)


def check(status: int, kind: str | None, body: bytes) -> Answer:
    """200, a GeoJSON FeatureCollection of at most 10 Features."""
    if status != 200 or (kind or "").partition(";")[0] not in GEOJSON_TYPES:
        return Answer(False)
    try:
        doc = orjson.loads(body)
        features = doc["features"]
        ok = doc["type"] == "FeatureCollection" and len(features) <= 10
        ok = ok and all(f["type"] == "Feature" for f in features)
        when = [str(f["properties"]["datetime"]) for f in features]
        matched = doc.get("numberMatched")
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return Answer(False)
    return Answer(ok, int(matched) if matched is not None else None, when)


def get(conn: http.client.HTTPConnection, path: str) -> tuple[Answer, float]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    return check(response.status, response.getheader("content-type"), body), elapsed


def load(port: int, paths: list[str], concurrency: int, max_seconds: float) -> dict[str, float]:
    """Send every path once (bounded by ``max_seconds``); latencies in milliseconds."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    cursor = iter(paths)
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                path = next(cursor, None)
            if path is None:
                break
            answer, elapsed = get(conn, path)
            with lock:
                latencies.append(elapsed)
                errors[0] += not answer.ok
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "seconds": wall,
        "rps": len(latencies) / wall,
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[int(len(ordered) * 0.95)],
    }


def proc_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process still running (Linux /proc; gone ones are left out)."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


@dataclass
class Server:
    """A running API: where it answers and which processes do its work."""

    name: str
    port: int
    prefix: str  # path before /search
    pid: int
    dsn: str | None = None  # pgstac: its database, whose backends work for it

    def pids(self) -> tuple[list[int], list[int]]:
        """(uvicorn workers, PostgreSQL backends of the pool)."""
        backends = pgstac_side.backend_pids(self.dsn) if self.dsn else []
        return children(self.pid), backends


def measure(server: Server, args: argparse.Namespace) -> dict[str, float]:
    """Warm-up, then the timed sequence; adds CPU ms per request (workers, database)."""
    prefix = f"{server.prefix}/search?"
    load(server.port, [prefix + q for q in searches(50, seed=99)], args.concurrency, 60)
    workers, backends = server.pids()
    before_w, before_b = proc_cpu(workers), proc_cpu(backends)
    paths = [prefix + q for q in searches(args.requests, seed=1)]
    result = load(server.port, paths, args.concurrency, args.max_seconds)
    workers, backends = server.pids()
    after_w, after_b = proc_cpu(workers), proc_cpu(backends)
    n = max(1.0, result["requests"])
    # A backend opened during the run counts from zero; one closed during it is lost.
    result["worker_ms"] = sum(v - before_w.get(p, 0.0) for p, v in after_w.items()) * 1000 / n
    result["db_ms"] = sum(v - before_b.get(p, 0.0) for p, v in after_b.items()) * 1000 / n
    result["backends"] = len(after_b)
    return result


def compare(hub: Server, pgstac: Server, count: int) -> dict[str, int]:
    """The same searches on both (pgstac with ``context=on``): how many agree on what."""
    tally = {"searches": 0, "both_ok": 0, "same_matched": 0, "same_returned": 0,
             "same_datetimes": 0, "pgstac_no_count": 0, "mean_matched": 0}  # fmt: skip
    matched: list[int] = []
    a = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=60)
    b = http.client.HTTPConnection("127.0.0.1", pgstac.port, timeout=60)
    examples: list[str] = []
    for query in searches(count, seed=5):
        x, _ = get(a, f"{hub.prefix}/search?{query}")
        y, _ = get(b, f"{pgstac.prefix}/search?{query}")
        tally["searches"] += 1
        if not (x.ok and y.ok):
            continue
        tally["both_ok"] += 1
        tally["pgstac_no_count"] += y.matched is None
        tally["same_matched"] += x.matched == y.matched
        tally["same_returned"] += len(x.datetimes) == len(y.datetimes)
        tally["same_datetimes"] += x.datetimes == y.datetimes
        matched.append(x.matched or 0)
        if x.matched != y.matched and len(examples) < 3:
            examples.append(f"{query}: hub {x.matched}, pgstac {y.matched}")
    a.close()
    b.close()
    tally["mean_matched"] = sum(matched) // max(1, len(matched))
    for line in examples:
        print(f"  numberMatched differs: {line}")
    return tally


def prepare_pgstac(args: argparse.Namespace) -> str:
    """Load the pgstac database unless ``--reuse`` finds it loaded the same way."""
    pgstac_side.ensure_venv()
    marker = args.data_dir / "pgstac-loaded.json"
    have = pgstac_side.stored_items(args.pg_dsn)
    if args.reuse and have == args.products and marker.exists():
        done = json.loads(marker.read_text())
        if done.get("dsn") == args.pg_dsn and done.get("products") == args.products:
            print(f"reusing {have} pgstac items in {args.pg_dsn} ({done['rendering']})")
            return str(done["rendering"])
    marker.unlink(missing_ok=True)
    items, colls = (
        args.data_dir / "pgstac-items.ndjson",
        args.data_dir / "pgstac-collections.ndjson",
    )
    stream = generate_products(args.products, seed=0, start=START, days=DAYS)
    end = START + timedelta(days=DAYS)
    count, render_s, rendering = stac_items.write_ndjson(stream, items, colls, START, end)
    why = f" ({rendering.reason})" if rendering.reason else ""
    print(f"rendered {count} items with {rendering.name}{why} in {render_s:.0f} s "
          f"({items.stat().st_size / 1e6:.0f} MB of ndjson)")  # fmt: skip
    migrate_s = pgstac_side.recreate(args.pg_dsn)
    load_s = pgstac_side.load(args.pg_dsn, colls, items)
    print(f"pgstac: migrate {migrate_s:.1f} s, pypgstac load + VACUUM ANALYZE {load_s:.0f} s "
          f"({count / load_s:.0f} items/s)")  # fmt: skip
    if not args.keep_ndjson:
        items.unlink()
    marker.write_text(json.dumps({"dsn": args.pg_dsn, "products": args.products,
                                  "rendering": rendering.name, "load_s": load_s}))  # fmt: skip
    return rendering.name


def hub_answers(port: int) -> bool:
    """Whether the hub serves ``/stac/search`` yet (its STAC API is recent)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answer, _ = get(conn, f"/stac/search?{searches(1, seed=0)[0]}")
    conn.close()
    return answer.ok


def report(name: str, r: dict[str, float]) -> None:
    db = (
        f" + {r['db_ms']:.1f} ms in {r['backends']:.0f} PostgreSQL backends"
        if r["backends"]
        else ""
    )
    print(f"{name:<22} {r['rps']:7.1f} req/s  p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  "
          f"{r['requests']:.0f} requests ({r['errors']:.0f} errors) in {r['seconds']:.1f} s; "
          f"server CPU/request {r['worker_ms']:.1f} ms workers{db}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=None, help="the hub's data directory")
    parser.add_argument("--pg-dsn", default=pgstac_side.DEFAULT_DSN, help="pgstac's database")
    parser.add_argument("--reuse", action="store_true", help="keep loaded catalogues")
    parser.add_argument("--keep-ndjson", action="store_true", help="keep the items file")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--check-requests", type=int, default=100, help="compared answers")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="per timed run")
    parser.add_argument("--rounds", type=int, default=1, help="timed runs of each, alternated")
    parser.add_argument("--pgstac-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a pgstac setting for the runs, e.g. readonly=true")  # fmt: skip
    args = parser.parse_args()
    args.data_dir = args.data_dir or Path("bench/out") / f"stac-{args.products}"
    args.data_dir.mkdir(parents=True, exist_ok=True)
    build(args.data_dir, args.products, args.reuse)
    rendering = prepare_pgstac(args)
    original = pgstac_side.settings(args.pg_dsn)
    chosen = dict(item.split("=", 1) for item in args.pgstac_setting)
    hub_port, pg_port = free_port(), free_port()
    hub_proc = start_server(args.data_dir, hub_port, args.workers)
    pg_proc = pgstac_side.start(args.pg_dsn, pg_port, args.workers)
    hub = Server("eohub", hub_port, "/stac", hub_proc.pid)
    pgstac = Server("stac-fastapi-pgstac", pg_port, "", pg_proc.pid, args.pg_dsn)
    results: dict[str, list[dict[str, float]]] = {}
    try:
        for name, value in chosen.items():
            pgstac_side.set_setting(args.pg_dsn, name, value)
        context = chosen.get("context", original["context"])
        has_hub = hub_answers(hub_port)
        if has_hub:
            pgstac_side.set_setting(args.pg_dsn, "context", "on")
            tally = compare(hub, pgstac, args.check_requests)
            print(f"answers compared (pgstac context=on): {tally}")
        else:
            print("the hub does not answer /stac/search: pgstac figures only")
        for _ in range(args.rounds):
            for value in dict.fromkeys((context, "on")):
                pgstac_side.set_setting(args.pg_dsn, "context", value)
                pgstac_side.forget_searches(args.pg_dsn)
                results.setdefault(f"pgstac context={value}", []).append(measure(pgstac, args))
            if has_hub:  # its file read first: pgstac's runs may have pushed it out of memory
                warm_file_cache(Settings(data_dir=args.data_dir).sqlite_path)
                results.setdefault("eohub", []).append(measure(hub, args))
    finally:
        for name in chosen.keys() | {"context"}:
            pgstac_side.set_setting(args.pg_dsn, name, original[name])
        for proc in (hub_proc, pg_proc):
            proc.terminate()
            proc.wait(timeout=30)
    print(f"products        {args.products} (pgstac items rendered by {rendering})")
    print(f"servers         {args.workers} uvicorn workers each, {args.concurrency} client "
          f"threads, {args.requests} requests a run (+50 warm-up), "
          f"{args.rounds} round(s)")  # fmt: skip
    names = dict.fromkeys(("context", "context_estimated_count", "readonly", *chosen))
    shown = ", ".join(f"{n}={chosen.get(n, original[n])}" for n in names)
    print(f"pgstac          {' '.join(pgstac_side.REQUIREMENTS)}; pool 1-10 connections a "
          f"worker (the API's default); settings {shown} (given: {chosen or 'none'})")  # fmt: skip
    best: dict[str, dict[str, float]] = {}
    for name, runs in results.items():
        for r in runs:
            report(name, r)
        best[name] = max(runs, key=lambda r: r["rps"])
    hub_best = best.get("eohub")
    for name, r in best.items():
        if hub_best and name != "eohub":
            cpu = (r["worker_ms"] + r["db_ms"]) / (hub_best["worker_ms"] + hub_best["db_ms"])
            print(f"ratio eohub / {name}: {hub_best['rps'] / r['rps']:.2f}x requests/s "
                  f"(best runs); pgstac takes {cpu:.2f}x the hub's server CPU "
                  "per request")  # fmt: skip


if __name__ == "__main__":
    main()
