"""``create_app``: the ASGI application of a hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from eohub import __version__
from eohub.api import errors, odata, opensearch, plain
from eohub.config import Settings
from eohub.wiring import Hub, build_hub


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> FastAPI:
    """Build the application; without ``hub`` one is wired from ``settings`` at start-up."""
    settings = settings or (hub.settings if hub else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = hub is None
        app.state.hub = hub or build_hub(settings)
        try:
            yield
        finally:
            if own:
                app.state.hub.close()

    app = FastAPI(title="eohub", version=__version__, lifespan=lifespan, docs_url="/api/docs")
    if hub is not None:  # usable at once, also by in-process clients that skip the lifespan
        app.state.hub = hub
    errors.install(app)
    app.include_router(plain.router)
    app.include_router(odata.router)
    app.include_router(opensearch.router)
    return app
