"""A hub served by uvicorn on 127.0.0.1 for the subscription tests, and small helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from odata_support import live_server

from account_support import DOWNLOADER, add_downloader
from eohub.config import Settings, SubscriptionSettings
from eohub.model import Role
from eohub.wiring import Hub, build_hub

BASE = "/catalogue/odata/v1/Subscriptions"
OTHER = ("olivia", "olivia-password")


@dataclass
class Served:
    """A hub, its base URL and a client signed in as :data:`DOWNLOADER`."""

    hub: Hub
    url: str
    client: httpx.Client

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a subscription; asserts the 201 and returns the entity."""
        answer = self.client.post(BASE, json=body)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def read(self, sub_id: str, top: int | None = None) -> list[dict[str, Any]]:
        """The notifications of a Read (asserts 200)."""
        params = {} if top is None else {"$top": str(top)}
        answer = self.client.get(f"{BASE}({sub_id})/Read", params=params)
        assert answer.status_code == 200, answer.text
        notes: list[dict[str, Any]] = answer.json()
        return notes

    def ack(self, sub_id: str, ack_id: int) -> dict[str, Any]:
        """An Ack (asserts 200)."""
        answer = self.client.post(f"{BASE}({sub_id})/Ack", params={"$ackid": str(ack_id)})
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@contextmanager
def served(root: Path, dsn: str | None = None, **subscriptions: Any) -> Iterator[Served]:
    """A fresh hub with two users, served on 127.0.0.1 (worker running): SQLite, or with
    ``dsn`` the catalogue and accounts in that PostgreSQL database."""
    conf = {"poll_interval_s": 0.1, "push_backoff_s": 0.05, **subscriptions}
    settings = Settings(
        data_dir=root / "hub",
        subscriptions=SubscriptionSettings(**conf),
        catalogue={"dsn": dsn} if dsn else {},  # type: ignore[arg-type]
    )
    hub = build_hub(settings)
    add_downloader(hub)
    hub.accounts.create(*OTHER, [Role.SEARCH])
    try:
        with live_server(hub) as url, httpx.Client(base_url=url, auth=DOWNLOADER) as client:
            yield Served(hub, url, client)
    finally:
        hub.close()
