"""What the change feed costs an ingest: upsert time of generated products into a fresh SQLite
catalogue with the feed, and with the feed's insert switched off (the same batches).

Usage: python bench/change_feed_overhead.py [N] [BATCH]   (prints figures; no assertion)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from eohub.catalogue.sqlite import SQLiteCatalogue
from eohub.catalogue.sqlite import backend as sqlite_backend
from eohub.demo.records import generate_products


def run(products: list, batch: int, feed: bool) -> float:
    saved = sqlite_backend.change_feed.record
    if not feed:
        sqlite_backend.change_feed.record = lambda *args: None  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as folder:
            catalogue = SQLiteCatalogue(Path(folder) / "c.sqlite")
            catalogue.migrate()
            start = time.perf_counter()
            for i in range(0, len(products), batch):
                catalogue.upsert(products[i : i + batch])
            elapsed = time.perf_counter() - start
            catalogue.close()
            return elapsed
    finally:
        sqlite_backend.change_feed.record = saved


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    products = list(generate_products(n, seed=1))
    for _ in range(2):  # alternate, twice, so caches and disk state affect both alike
        without = run(products, batch, feed=False)
        with_feed = run(products, batch, feed=True)
        print(
            f"{n} products in batches of {batch}: without feed {without:.2f} s, "
            f"with feed {with_feed:.2f} s ({(with_feed / without - 1) * 100:+.1f} %, "
            f"{(with_feed - without) / n * 1e6:+.1f} us/product)"
        )


if __name__ == "__main__":
    main()
