"""A real hub, a real SMTP server and a real headless Chromium for the portal's browser tests.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright; no browser is downloaded.
In CI a missing Chromium fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from browser_support import Inbox, Portal, serve_portal
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("EOHUB_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[Inbox, int]]:
    """An SMTP server on 127.0.0.1 collecting every message."""
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; CI fails without it, elsewhere the browser tests are skipped."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One headless Chromium per test module (each test opens its own contexts).

    Not per session: Playwright's sync API keeps an event loop running in the main thread
    while it is started, which would break later tests that run their own loop.
    """
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[Portal]:
    """A hub with 40 ingested demo products served on 127.0.0.1, mailing to :func:`smtp`
    (one per test module)."""
    with serve_portal(tmp_path_factory.mktemp("portal"), smtp[1]) as served:
        yield served
