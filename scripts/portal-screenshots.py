#!/usr/bin/env python3
"""Screenshots of the portal's main pages for the documentation.

Starts a hub with demo products in a temporary folder, serves it on 127.0.0.1, drives the
system's Chromium (Debian's ``/usr/bin/chromium``; no browser is downloaded) through the pages
and writes 1280x800 PNGs to ``docs/screenshots/``:

    .venv/bin/python scripts/portal-screenshots.py [--out docs/screenshots] [--chromium PATH]

The map uses only the country outlines shipped with the hub, so nothing is fetched from the
Internet and the pictures are the same on every run with the same demo data.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, ViewportSize, sync_playwright

from eohub.api.app import create_app
from eohub.config import PortalSettings, ServerSettings, Settings
from eohub.demo.factory import demo_products
from eohub.model import Role
from eohub.wiring import Hub, build_hub

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "alice", "correct horse battery"
SIZE: ViewportSize = {"width": 1280, "height": 800}
EUROPE = "bbox=-12,35,32,60&sort=-sensing_start&limit=25"
"""The search shown: everything over Europe, newest first."""
WAIT_MS = 20_000


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_hub(folder: Path, products: int, seed: int) -> Iterator[tuple[Hub, str]]:
    """A hub with ``products`` ingested demo products and one user, served in a thread."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=folder / "hub",
        server=ServerSettings(host="127.0.0.1", port=port, public_url=url),
        portal=PortalSettings(tile_url=""),
    )
    hub = build_hub(settings)
    try:
        hub.ingestor().ingest_all(demo_products(products, folder / "incoming", seed=seed))
        hub.accounts.create(USER, PASSWORD, (Role.SEARCH, Role.DOWNLOAD), email="alice@example.org",
                            firstname="Alice", lastname="Liddell", country="France",
                            domain="research")  # fmt: skip
        config = uvicorn.Config(create_app(hub=hub), host="127.0.0.1", port=port,
                                log_level="warning")  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the hub did not start")
            time.sleep(0.05)
        try:
            yield hub, url
        finally:
            server.should_exit = True
            thread.join(timeout=20)
    finally:
        hub.close()


def wait_for_results(page: Page) -> None:
    """Wait until the search page shows its answer and the map has its outlines."""
    page.wait_for_function(
        "() => / found/.test(document.getElementById('results-status').textContent)"
    )
    page.wait_for_function("() => document.querySelectorAll('#map path').length > 100")


def shoot(page: Page, out: Path, name: str) -> None:
    """Write the visible part of the page to ``out/name.png``."""
    page.mouse.move(0, 0)
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def take(page: Page, out: Path) -> None:
    """The sign-up page, then a logged-in tour: search, product, cart, saved searches."""
    page.goto("/signup")
    shoot(page, out, "signup")

    page.goto("/login")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")

    page.goto(f"/?{EUROPE}")
    wait_for_results(page)
    results = page.locator("#results .result")
    for index in range(3):
        results.nth(index).get_by_role("button", name="Add to cart").click()
        results.nth(index).locator(".result-feedback").filter(has_text="Added").wait_for()
    page.get_by_label("Save this search as").fill("Europe, everything")
    page.get_by_role("button", name="Save search").click()
    page.locator("#save-status").filter(has_text="Saved").wait_for()
    page.goto(f"/?collection=SENTINEL-2&cloud_cover=..20&{EUROPE}")
    wait_for_results(page)
    page.get_by_label("Save this search as").fill("Clear Sentinel-2 over Europe")
    page.get_by_role("button", name="Save search").click()
    page.locator("#save-status").filter(has_text="Saved").wait_for()

    page.goto(f"/?{EUROPE}")
    wait_for_results(page)
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, out, "search")
    page.evaluate("() => window.scrollBy(0, document.getElementById('results-heading')"
                  ".getBoundingClientRect().top - 60)")  # fmt: skip
    shoot(page, out, "search-results")

    sentinel2 = page.locator("#results .result-link", has_text="MSIL2A").first
    sentinel2.click()
    page.wait_for_function(
        "() => { const img = document.getElementById('quicklook');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    page.wait_for_function("() => document.querySelectorAll('#product-map path').length > 10")
    shoot(page, out, "product")

    page.goto("/cart")
    shoot(page, out, "cart")
    page.goto("/searches")
    page.locator(".saved-search").first.get_by_role("button", name="Turn on").click()
    page.wait_for_url("**/searches**")
    shoot(page, out, "saved-searches")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, start the hub and write the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=os.environ.get("EOHUB_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--products", type=int, default=80, help="demo products to ingest")
    parser.add_argument("--seed", type=int, default=3, help="seed of the demo products")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"Chromium not found at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eohub-screens-") as tmp:
        with served_hub(Path(tmp), args.products, args.seed) as (_hub, url):
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium)
                try:
                    context = browser.new_context(base_url=url, viewport=SIZE)
                    context.set_default_timeout(WAIT_MS)
                    take(context.new_page(), args.out)
                finally:
                    browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
