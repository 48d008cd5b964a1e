"""Push subscriptions: the server's background worker POSTs notifications to a real HTTP
receiver on 127.0.0.1, retries with backoff, and moves the cursor only on a 2xx."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from subscription_support import BASE, served

from catalogue_samples import make_product

DEADLINE_S = 30.0


@dataclass
class Receiver:
    """Answers 500 to the first ``failures`` POSTs, then 200; keeps what it was sent."""

    failures: int
    calls: list[tuple[int, dict[str, Any], str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[dict[str, Any]]:
        """Bodies answered with 200."""
        with self.lock:
            return [body for status, body, _ in self.calls if status == 200]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver(failures=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            with state.lock:
                status = 500 if len(state.calls) < state.failures else 200
                state.calls.append((status, body, self.headers.get("Authorization")))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _wait_for(condition: Any) -> None:
    end = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < end, "the push did not arrive in time"
        time.sleep(0.05)


def test_push_is_retried_then_delivered_once(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, endpoint = receiver
    with served(tmp_path, push_attempts=4) as hub:
        created = hub.create(
            {
                "FilterParam": "Collection/Name eq 'SENTINEL-2'",
                "NotificationEndpoint": endpoint,
                "NotificationEpUsername": "hook-user",
                "NotificationEpPassword": "hook-secret",
            }
        )
        sub_id = created["Id"]
        assert "NotificationEpPassword" not in created  # never shown
        assert created["NotificationEndpoint"] == endpoint
        product = make_product("PUSHED_S2")
        hub.hub.catalogue.upsert([make_product("NOT_PUSHED", collection="SENTINEL-1")])
        hub.hub.catalogue.upsert([product])
        _wait_for(lambda: state.accepted())
        [body] = state.accepted()
        assert body["@odata.context"] == "$metadata#Notification/$entity"
        assert body["ProductId"] == str(product.id) and body["SubscriptionId"] == sub_id
        assert body["value"]["Name"] == product.filename and "Attributes" in body["value"]
        with state.lock:
            assert [status for status, _, _ in state.calls] == [500, 500, 200]
            assert all(b == body for _, b, _ in state.calls)  # the same notification each try
            expected = "Basic " + base64.b64encode(b"hook-user:hook-secret").decode()
            assert all(auth == expected for _, _, auth in state.calls)
        _wait_for(lambda: hub.client.get(f"{BASE}({sub_id})").json()["AckedPosition"] > 0)
        info = hub.client.get(f"{BASE}({sub_id})").json()
        assert info["AckedPosition"] == body["AckId"]  # the cursor moved past it
        assert info["LastNotificationDate"] is not None
        assert hub.read(sub_id, 10) == []
        time.sleep(0.5)  # several more worker rounds: nothing is sent again
        assert len(state.accepted()) == 1 and len(state.calls) == 3


def test_a_paused_push_subscription_is_not_pushed(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, endpoint = receiver
    state.failures = 0
    with served(tmp_path) as hub:
        body = {"FilterParam": "Collection/Name eq 'SENTINEL-2'", "NotificationEndpoint": endpoint}
        paused = hub.create({**body, "Status": "paused"})["Id"]
        running = hub.create(body)["Id"]
        hub.hub.catalogue.upsert([make_product("PUSH_ONE")])
        _wait_for(lambda: state.accepted())
        time.sleep(0.5)
        assert [b["SubscriptionId"] for b in state.accepted()] == [running]
        assert len(hub.read(paused, 5)) == 1  # still there to read or to push once resumed
        hub.client.patch(f"{BASE}({paused})", json={"Status": "running"})
        _wait_for(lambda: len(state.accepted()) == 2)
        assert state.accepted()[1]["SubscriptionId"] == paused
