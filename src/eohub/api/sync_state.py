"""The hub's synchronisers as one service per application (the admin API, the scheduler and the
downloads served from upstream share it)."""

from __future__ import annotations

import threading

from fastapi import FastAPI

from eohub.sync import SyncService
from eohub.wiring import Hub, build_sync

_lock = threading.Lock()


def sync_service(app: FastAPI) -> SyncService:
    """The hub's synchronisers, built once per application."""
    with _lock:
        service: SyncService | None = getattr(app.state, "sync_service", None)
        if service is None:
            hub: Hub = app.state.hub
            service = app.state.sync_service = build_sync(hub)
        return service
