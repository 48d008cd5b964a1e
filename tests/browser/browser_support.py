"""Helpers of the browser tests: a served hub with real products, pages that record what goes
wrong in them, mails read back from the test SMTP server, and the map's pixel geometry.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from api.odata_support import free_port
from eohub.api.app import create_app
from eohub.config import MailSettings, PortalSettings, ServerSettings, Settings
from eohub.demo.factory import demo_products
from eohub.model import Product, Role
from eohub.query import Query
from eohub.wiring import Hub, build_hub

PASSWORD = "correct horse battery"
TIMEOUT_MS = 15_000
"""Longest wait for anything a page does (Playwright's default timeout in these tests)."""
XSS_MARKUP = ("<img src=x onerror=window.__xss=1>", "<script>window.__xss=1</script>")
"""Markup that sets ``window.__xss`` if a page ever lets it run."""


@dataclass
class Inbox:
    """Messages received by the test SMTP server."""

    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep a received message (aiosmtpd's hook)."""
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, to: str, subject_part: str, timeout_s: float = 20) -> Message:
        """The first message to ``to`` whose subject contains ``subject_part``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                for message in self.messages:
                    if to in str(message["To"]) and subject_part in str(message["Subject"]):
                        return message
            time.sleep(0.1)
        raise AssertionError(f"no mail to {to} about {subject_part!r}")


@dataclass
class Portal:
    """A hub served on 127.0.0.1 with really ingested products; ``url`` is its base URL."""

    hub: Hub
    url: str
    products: list[Product]

    def user(self, username: str) -> str:
        """Create a confirmed user (search and download roles, mail at example.org) with
        :data:`PASSWORD`; its username."""
        roles = (Role.SEARCH, Role.DOWNLOAD)
        self.hub.accounts.create(username, PASSWORD, roles, email=f"{username}@example.org")
        return username


@contextmanager
def serve_portal(root: Path, smtp_port: int, *, n: int = 40, seed: int = 3) -> Iterator[Portal]:
    """A hub in ``root`` mailing through the SMTP server on ``smtp_port``, holding ``n``
    ingested demo products, served by uvicorn in a thread. No base-map tiles: the map shows
    the country outlines shipped with the hub, so nothing is fetched from the Internet."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=root / "hub",
        server=ServerSettings(host="127.0.0.1", port=port, public_url=url),
        mail=MailSettings(smtp_host="127.0.0.1", smtp_port=smtp_port),
        portal=PortalSettings(tile_url=""),
    )
    hub = build_hub(settings)
    try:
        summary = hub.ingestor().ingest_all(demo_products(n, root / "incoming", seed=seed))
        assert not summary.rejected, summary.rejected
        products = list(hub.catalogue.search(Query(limit=1000)).items)
        with _served(hub, port):
            yield Portal(hub, url, products)
    finally:
        hub.close()


@contextmanager
def _served(hub: Hub, port: int) -> Iterator[None]:
    config = uvicorn.Config(
        create_app(hub=hub), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@dataclass
class Console:
    """What a browser context reported: console errors and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        # The browser asks for /favicon.ico on its own; the portal has none (a 404).
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")

    def csp_errors(self) -> list[str]:
        """The errors that report a Content-Security-Policy violation."""
        return [e for e in self.errors if "Content Security Policy" in e]


@contextmanager
def browsing(browser: Browser, portal: Portal, **options: Any) -> Iterator[tuple[Page, Console]]:
    """A fresh browser context (its own cookies) and a page on ``portal``, recording errors."""
    context: BrowserContext = browser.new_context(
        base_url=portal.url, accept_downloads=True, **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    console = Console()
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    try:
        yield page, console
    finally:
        context.close()


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form and wait for the page it leads to."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert not page.url.endswith("/login"), page.locator("main").inner_text()


def search_with_bbox(page: Page, bbox: tuple[float, float, float, float]) -> None:
    """Type ``bbox`` (west, south, east, north) as the area and run the search."""
    for name, value in zip(("West", "South", "East", "North"), bbox, strict=True):
        page.get_by_label(name, exact=True).fill(str(value))
    page.locator("#aoi-bbox-apply").click()
    run_search(page)


def run_search(page: Page) -> None:
    """Press Search and wait until the page has the answer."""
    page.locator("#search-button").click()
    wait_for_results(page)


def wait_for_results(page: Page) -> str:
    """Wait for the results status to report an answer; the status text."""
    status = page.locator("#results-status")
    page.wait_for_function(
        "() => /found|refused|failed/.test(document.getElementById('results-status').textContent)"
        " && !document.getElementById('results-panel').hasAttribute('aria-busy')"
    )
    return status.inner_text()


def result_ids(page: Page) -> list[str]:
    """The product ids of the listed results, in order."""
    ids: list[str] = page.locator("#results .result").evaluate_all(
        "items => items.map(item => item.dataset.id)"
    )
    return ids


def footprint_paths(page: Page) -> int:
    """The result footprints drawn on the search map: SVG paths in Leaflet's overlay pane
    that react to the pointer (the area of interest is drawn there too, but inert)."""
    count: int = page.locator("#map .leaflet-overlay-pane path.leaflet-interactive").count()
    return count


def mail_text(message: Message) -> str:
    """The plain-text body of a mail, decoded."""
    part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), message)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes), "a mail without a text body"
    return payload.decode(part.get_content_charset() or "utf-8")


def link_in(message: Message, path: str) -> str:
    """The first link of a mail whose path starts with ``path``."""
    found = re.search(rf"(https?://\S+?{re.escape(path)}\S*)", mail_text(message))
    assert found, f"no {path} link in: {mail_text(message)}"
    return found.group(1)


def map_point(page: Page, lon: float, lat: float) -> tuple[float, float]:
    """The page coordinates of (lon, lat) on the search map as it opens (centre 20N 0E,
    zoom 2: Leaflet's Web Mercator, 256 px tiles)."""
    box: dict[str, float] = page.locator("#map").evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return {x: r.left + el.clientLeft, y: r.top + el.clientTop,"
        " width: el.clientWidth, height: el.clientHeight}; }"
    )
    scale = 256 * 2**2

    def project(lo: float, la: float) -> tuple[float, float]:
        sin = math.sin(math.radians(la))
        return scale * (lo + 180) / 360, scale * (
            0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)
        )

    cx, cy = project(0, 20)
    origin = (round(cx - box["width"] / 2), round(cy - box["height"] / 2))
    x, y = project(lon, lat)
    return box["x"] + x - origin[0], box["y"] + y - origin[1]
