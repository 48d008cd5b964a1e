"""Metadata sync between two hubs on 127.0.0.1: products per second.

An upstream hub (uvicorn, one worker) holds N generated products; a downstream hub's
metadata-only synchroniser pulls them all over DHuS OData v1 JSON, pages of ``--page-size``.
Prints the rate; the issue's target is at least 2,000 products/s at 100,000.

    .venv/bin/python bench/sync.py --products 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_server import free_port, start_server
from eohub.config import Settings
from eohub.demo import generate_products
from eohub.model.user import Role
from eohub.sync import SyncDefinition
from eohub.wiring import build_hub, build_sync

USER = ("mirror", "mirror-password")


def fill(data: Path, count: int) -> None:
    """Catalogue ``count`` generated products (metadata only) upstream."""
    hub = build_hub(Settings(data_dir=data))  # type: ignore[call-arg]
    try:
        hub.accounts.create(*USER, [Role.SEARCH, Role.DOWNLOAD])
        records = iter(generate_products(count, seed=1))
        while batch := list(islice(records, 5000)):
            hub.catalogue.upsert(
                [r.evolve(online=False, archive_key=None, quicklook_key=None) for r in batch]
            )
    finally:
        hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fill(root / "up", args.products)
        port = free_port()
        server = start_server(root / "up", port, workers=1)
        down = build_hub(Settings(data_dir=root / "down"))  # type: ignore[call-arg]
        try:
            sync = build_sync(down)
            sync.add(SyncDefinition(
                label="bench", url=f"http://127.0.0.1:{port}", username=USER[0],
                password=USER[1], page_size=args.page_size, deletions=False, quicklooks=False,
            ))  # fmt: skip
            started = time.perf_counter()
            report = sync.run("bench")
            seconds = time.perf_counter() - started
        finally:
            down.close()
            server.terminate()
            server.wait(timeout=30)
    if report.error:
        raise SystemExit(f"sync failed: {report.error}")
    print(
        f"metadata sync: {report.catalogued} products in {seconds:.1f}s = "
        f"{report.catalogued / seconds:,.0f} products/s (page size {args.page_size})"
    )


if __name__ == "__main__":
    main()
