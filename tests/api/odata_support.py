"""Helpers of the OData v1 tests: a hub with real ingested products, and a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import uvicorn
from fastapi import FastAPI

from account_support import DOWNLOADER, add_downloader
from eohub.api.app import create_app
from eohub.config import Settings
from eohub.demo.factory import demo_products
from eohub.demo.records import generate_products
from eohub.model import Product
from eohub.query import Query
from eohub.wiring import Hub, build_hub


@dataclass
class OdataHub:
    """A hub holding ingested factory products plus one catalogued product without bytes."""

    hub: Hub
    products: list[Product]  # ingested, online
    offline: Product

    def by_collection(self, collection: str) -> Product:
        """The first online product of a collection."""
        return next(p for p in self.products if p.collection == collection)

    def with_quicklook(self) -> Product:
        """An online product that has a quicklook."""
        return next(p for p in self.products if p.quicklook_key)


def build_odata_hub(root: Path, *, n: int = 8, seed: int = 0, **settings: object) -> OdataHub:
    """Ingest ``n`` factory products (every mission) and catalogue one offline product."""
    hub = build_hub(Settings(data_dir=root / "hub", **settings))  # type: ignore[arg-type]
    add_downloader(hub)
    summary = hub.ingestor().ingest_all(demo_products(n, root / "incoming", seed=seed))
    assert not summary.rejected, summary.rejected
    products = list(hub.catalogue.search(Query(limit=100)).items)
    missing = [p.name for p in products if not p.archive_key]
    assert not missing, f"the catalogue lost the archive keys of {missing}"
    record = next(iter(generate_products(1, seed=seed + 1000)))
    offline = record.evolve(online=False, archive_key=None, quicklook_key=None)
    hub.catalogue.upsert([offline])
    return OdataHub(hub, products, hub.catalogue.get(offline.id))


def asgi_get(app: FastAPI, url: str, **kwargs: object) -> httpx.Response:
    """One request through the ASGI app (lifespan included)."""
    return asgi_request(app, "GET", url, **kwargs)


def asgi_request(app: FastAPI, method: str, url: str, **kwargs: object) -> httpx.Response:
    """One request of any method through the ASGI app, as :data:`DOWNLOADER` unless ``auth``
    is given (``auth=None``: anonymous)."""
    kwargs.setdefault("auth", DOWNLOADER)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                return await client.request(method, url, **kwargs)  # type: ignore[arg-type]

    return anyio.run(go)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(hub: Hub) -> Iterator[str]:
    """Serve the hub with uvicorn on 127.0.0.1 in a thread; yields the base URL."""
    port = free_port()
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
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
