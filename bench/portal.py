"""Portal benchmark: every portal page and the JSON the search page calls, then a real browser.

Builds (or reuses) a SQLite catalogue of N generated products plus a few really ingested ones
(their files are listed on the product page), starts ``uvicorn`` with the hub's app factory on
127.0.0.1, creates a user manager with 100 other accounts next to it, logs in through
``POST /login`` and fills the session's cart (50 products) and saved searches (20) through
the portal's own endpoints. Then it requests every page a bounded number of times, once from
one client and once from a few concurrent ones, and prints p50/p95/max per URL with the
server's CPU time per request; URLs over the p95 target are flagged. Last, Debian's Chromium
(driven by Playwright, see ``portal_browser.py``) opens the search page and runs searches of
1,000 results.

    python bench/portal.py --products 1000000 --copy-from /tmp/eohub-os/p1000000
    python bench/portal.py --products 1000000 --reuse     # the catalogue built last time

Target (issue 5): every portal page in <= 100 ms p95 at 1M products. The machine has 2 cores
shared by the server, the client, the browser and anything else running.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from itertools import islice
from pathlib import Path
from urllib.parse import quote, urlencode

import orjson

from bench_server import children, cpu_seconds, free_port, start_server
from eohub.config import Settings
from eohub.demo import generate_products
from eohub.demo.factory import demo_products
from eohub.model.user import Role
from eohub.query import Query
from eohub.wiring import build_hub

START = datetime(2023, 1, 1, tzinfo=UTC)
DAYS = 3 * 365
BATCH = 10_000
REAL = 8  # ingested products (zips and folders with files), beside the generated ones
REAL_SEED = 4242
USER = ("bench", "bench portal password 1")
OTHER_USERS = 100
CART = 50
SAVED = 20
TARGET_MS = 100.0
# Land points people draw areas around (lon, lat).
PLACES = [(10, 50), (2, 47), (-3, 40), (20, 52), (13, 43), (-100, 40), (-75, 42),
          (-47, -15), (-65, -30), (25, 0), (30, 15), (78, 22), (105, 30), (135, -25),
          (140, 37), (37, 55)]  # fmt: skip
CRITERIA = (
    {"collection": "SENTINEL-2", "cloud_cover": "..30"},
    {"collection": "SENTINEL-1", "product_type": "GRD"},
    {"collection": "SENTINEL-2"},
    {},
)


def _catalogue_files(path: Path) -> list[Path]:
    return [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]


def _fresh_accounts(settings: Settings) -> None:
    """Every run starts with no account: the cart and the searches hold exactly what it adds."""
    for path in _catalogue_files(settings.accounts_path):
        path.unlink(missing_ok=True)
    (settings.data_dir / "admin-password").unlink(missing_ok=True)


def prepare(data_dir: Path, products: int, reuse: bool, copy_from: Path | None) -> list[str]:
    """The catalogue (generated products + REAL ingested ones) and the accounts; real ids."""
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not reuse:
        for path in _catalogue_files(settings.sqlite_path):
            path.unlink(missing_ok=True)
        shutil.rmtree(settings.archive_path, ignore_errors=True)
        if copy_from is not None:
            source = copy_from / "catalogue.sqlite" if copy_from.is_dir() else copy_from
            shutil.copyfile(source, settings.sqlite_path)
            if (copy_from / "archive").is_dir():  # the files of products ingested there
                shutil.copytree(copy_from / "archive", settings.archive_path)
            print(f"copied {source}")
    _fresh_accounts(settings)
    real = list(generate_products(REAL, seed=REAL_SEED))
    hub = build_hub(settings)
    try:
        have = hub.catalogue.count(Query())
        if have not in (products, products + REAL):
            if have:
                raise SystemExit(f"{settings.sqlite_path} holds {have} products: run without "
                                 "--reuse to build it again")  # fmt: skip
            started = time.perf_counter()
            stream = generate_products(products, seed=0, start=START, days=DAYS)
            while batch := list(islice(stream, BATCH)):
                hub.catalogue.upsert(batch)
            print(f"loaded {products} products in {time.perf_counter() - started:.0f} s")
            have = products
        if have == products:
            with tempfile.TemporaryDirectory() as incoming:
                paths = demo_products(REAL, Path(incoming), seed=REAL_SEED)
                summary = hub.ingestor().ingest_all(paths)
            if summary.rejected:
                raise SystemExit(f"ingestion refused products: {summary.rejected}")
        else:
            print(f"reusing {have} products in {settings.sqlite_path}")
        roles = [Role.SEARCH, Role.DOWNLOAD, Role.USER_MANAGER]
        hub.accounts.create(*USER, roles, email="bench@example.org")
        for i in range(OTHER_USERS):
            hub.accounts.create(f"user{i:03d}", USER[1], email=f"user{i:03d}@example.org")
    finally:
        hub.close()
    return [str(p.id) for p in real]


def typical_searches(count: int, seed: int) -> list[dict[str, str]]:
    """Searches as the search page writes them into its URL: an area drawn around a place,
    a 1 to 3 month sensing window, a mission with or without more criteria, 50 a page."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        lon, lat = rng.choice(PLACES)
        half = rng.choice((1, 2, 4, 6))
        day = START + timedelta(days=rng.randrange(DAYS - 100))
        end = day + timedelta(days=rng.choice((30, 60, 90)) - 1)
        params = {
            **rng.choice(CRITERIA),
            "start": f"{day:%Y-%m-%d}T00:00:00Z",
            "end": f"{end:%Y-%m-%d}T23:59:59.999Z",
            "bbox": f"{lon - half},{lat - half},{lon + half},{lat + half}",
            "sort": "-sensing_start",
            "limit": "50",
        }
        out.append(params)
    return out


# ------------------------------------------------------------------------------ HTTP client


@dataclass
class Visitor:
    """One browser's cookies over keep-alive connections to the server."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def header(self) -> dict[str, str]:
        """The Cookie header of the next request."""
        jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"Cookie": jar} if jar else {}

    def request(
        self, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, http.client.HTTPResponse]:  # fmt: skip
        """One request on a new connection; cookies it sets are kept."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={**self.header(), **(headers or {})})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        for value in response.headers.get_all("set-cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                self.cookies[name] = morsel.value
        return response.status, data, response

    def csrf(self, path: str) -> str:
        """The CSRF token of the forms on ``path``."""
        status, body, _ = self.request("GET", path)
        found = re.search(rb'name="csrf_token" value="([^"]+)"', body)
        if status != 200 or not found:
            raise SystemExit(f"no CSRF token on {path} ({status})")
        return found.group(1).decode()

    def post_json(self, path: str, data: dict[str, str], token: str) -> dict[str, object]:
        """A fetch of the portal's JavaScript: JSON body, CSRF header."""
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-CSRF-Token": token}  # fmt: skip
        status, body, _ = self.request("POST", path, orjson.dumps(data), headers)
        if status not in (200, 201):
            raise SystemExit(f"POST {path} answered {status}: {body[:300]!r}")
        answer: dict[str, object] = orjson.loads(body)
        return answer


def log_in(port: int) -> Visitor:
    """A visitor logged in through the login form."""
    visitor = Visitor(port)
    token = visitor.csrf("/login")
    form = urlencode({"username": USER[0], "password": USER[1], "next": "/", "csrf_token": token})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, _ = visitor.request("POST", "/login", form.encode(), headers)
    if status != 303 or "eohub_session" not in visitor.cookies:
        raise SystemExit(f"login failed ({status})")
    return visitor


def fill_workspace(visitor: Visitor, real: list[str], searches: list[dict[str, str]]) -> None:
    """CART products in the cart (the real ones first), SAVED saved searches."""
    token = visitor.csrf("/cart")
    found: list[str] = list(real)
    for params in searches:
        if len(found) >= CART:
            break
        _, body, _ = visitor.request("GET", "/api/search?" + urlencode(params))
        found += [str(item["id"]) for item in orjson.loads(body)["items"]]
    for product_id in found[:CART]:
        visitor.post_json("/cart/items", {"product_id": product_id}, token)
    for i, params in enumerate(searches[:SAVED]):
        visitor.post_json("/searches", {"name": f"Search {i}", "params": urlencode(params)}, token)


def urls(visitor: Visitor, real: list[str], requests: int) -> dict[str, list[str]]:
    """Name -> the paths requested for it (searches vary from one request to the next)."""
    searches = typical_searches(requests, seed=3)
    queries = [urlencode(p) for p in searches]
    context = []  # product pages reached from a result list: /products/<id>?from=...&i=n
    rng = random.Random(5)
    for query in queries[:40]:
        _, body, _ = visitor.request("GET", f"/api/search?{query}")
        items = orjson.loads(body)["items"]
        if items:
            i = rng.randrange(len(items))
            context.append(f"/products/{items[i]['id']}?from={quote(query, safe='')}&i={i}")
    return {
        "/ (anonymous)": ["/"],
        "/": ["/"],
        "/?<search>": [f"/?{q}" for q in queries],
        "/api/search?<search>&count=true": [f"/api/search?{q}&count=true" for q in queries],
        "/explain?<search>": [f"/explain?{q}" for q in queries],
        "/products/<ingested>": [f"/products/{pid}" for pid in real],
        "/products/<id>?from=<search>&i=n": context,
        "/cart": ["/cart"],
        "/cart/download.meta4": ["/cart/download.meta4"],
        "/cart/download-wget.sh": ["/cart/download-wget.sh"],
        "/searches": ["/searches"],
        "/account": ["/account"],
        "/admin/users": ["/admin/users"],
        "/login (anonymous)": ["/login"],
        "/signup (anonymous)": ["/signup"],
    }


def broad_urls() -> dict[str, list[str]]:
    """Searches without an area and a sensing window together, as the page sends them."""
    month = {"start": "2024-05-01T00:00:00Z", "end": "2024-05-31T23:59:59.999Z"}
    searches = {
        "no criteria": {},
        "Sentinel-2": {"collection": "SENTINEL-2"},
        "Sentinel-1 GRD": {"collection": "SENTINEL-1", "product_type": "GRD"},
        "one month": month,
        "Europe, any date": {"bbox": "-10,36,30,60"},
        "S2, Europe, one month": {**month, "collection": "SENTINEL-2", "bbox": "-10,36,30,60"},
        "text 'Sentinel'": {"text": "Sentinel"},
    }  # fmt: skip
    page = {"sort": "-sensing_start", "limit": "25", "count": "true"}
    return {f"/api/search {k}": [f"/api/search?{urlencode({**v, **page})}"]
            for k, v in searches.items()}  # fmt: skip


# ------------------------------------------------------------------------------ the server


# ------------------------------------------------------------------------------ measuring


@dataclass
class Figures:
    """Latencies of one URL in one mode (milliseconds) and the server's CPU per request."""

    latencies: list[float]
    errors: int
    cpu_ms: float

    def at(self, share: float) -> float:
        """The latency below which ``share`` of the requests finished."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def measure(visitor: Visitor | None, paths: list[str], count: int, clients: int,
            workers: list[int]) -> Figures:  # fmt: skip
    """``count`` GETs cycling over ``paths`` from ``clients`` keep-alive connections."""
    headers = visitor.header() if visitor else {}
    port = visitor.port if visitor else 0
    todo: Iterator[str] = islice(_cycle(paths), count)
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                path = next(todo, None)
            if path is None:
                break
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                errors[0] += response.status != 200
        conn.close()

    cpu = cpu_seconds(workers)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu_ms = (cpu_seconds(workers) - cpu) * 1000 / max(1, len(latencies))
    return Figures(latencies, errors[0], cpu_ms)


def _cycle(paths: list[str]) -> Iterator[str]:
    while True:
        yield from paths


def report(name: str, mode: str, figures: Figures) -> None:
    """One line of the table."""
    p95 = figures.at(0.95)
    flag = "  OVER" if p95 > TARGET_MS else ""
    errors = f"  {figures.errors} errors" if figures.errors else ""
    print(f"{name:36} {mode:8} {len(figures.latencies):4d} {figures.at(0.5):7.1f} {p95:7.1f} "
          f"{max(figures.latencies):8.1f} {figures.cpu_ms:7.1f}{flag}{errors}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep the catalogue of last time")
    parser.add_argument(
        "--copy-from", type=Path, default=None, help="a data dir or catalogue.sqlite to copy"
    )
    parser.add_argument("--requests", type=int, default=200, help="per URL and mode")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--broad-requests", type=int, default=10, help="per broad search")
    parser.add_argument("--browser-runs", type=int, default=3, help="0: no browser")
    parser.add_argument("--only", default="", help="measure only URLs whose name contains this")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / "eohub-portal" / f"p{args.products}"
    real = prepare(data_dir, args.products, args.reuse, args.copy_from)
    port = free_port()
    # The map shows the offline outlines: no tile server is involved.
    server = start_server(data_dir, port, args.workers, env={"EOHUB_PORTAL__TILE_URL": ""})
    try:
        visitor = log_in(port)
        started = time.perf_counter()
        status, _, _ = visitor.request("GET", "/")
        first_ms = (time.perf_counter() - started) * 1000
        fill_workspace(visitor, real, typical_searches(60, seed=1))
        anonymous = Visitor(port)
        anonymous.request("GET", "/login")  # its CSRF cookie, as a browser would hold
        workers = children(server.pid)
        table = {k: v for k, v in urls(visitor, real, args.requests).items() if args.only in k}
        for paths in table.values():  # warm: the first request of each worker (choices, caches)
            for path in paths[:4]:
                visitor.request("GET", path)
        print(f"products {args.products + REAL}, uvicorn workers {args.workers}, cart {CART}, "
              f"saved searches {SAVED}, accounts {OTHER_USERS + 2}")  # fmt: skip
        print(f"first / of a fresh server: {first_ms:.0f} ms ({status})")
        print(f"{'URL':36} {'clients':8} {'n':>4} {'p50':>7} {'p95':>7} {'max':>8} {'cpu/req':>7}"
              "   (ms)")  # fmt: skip
        for name, paths in table.items():
            who = anonymous if "anonymous" in name else visitor
            for clients in (1, args.clients):
                figures = measure(who, paths, args.requests, clients, workers)
                report(name, str(clients), figures)
        if args.broad_requests:
            print("broad searches (page of 25 with its exact total; not the typical search):")
            for name, paths in broad_urls().items():
                if args.only in name:
                    report(name, "1", measure(visitor, paths, args.broad_requests, 1, workers))
        if args.browser_runs:
            from portal_browser import browser_figures

            browser_figures(f"http://127.0.0.1:{port}", visitor.cookies, args.browser_runs)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
