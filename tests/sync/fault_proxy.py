"""A real HTTP proxy on 127.0.0.1 in front of a hub that injects faults on chosen requests:
an error status, a truncated body (the connection closes before the announced length),
corrupted bytes, a stall (no answer, or half a body and then nothing, for ``stall`` seconds),
or the whole source vanishing mid-transfer (half a body, then the proxy stops listening). It
can also skew the ``Date`` header, as a hub with a wrong clock sends. It logs every request
(path and Range header; ``headers``: every header) for the tests to check."""

from __future__ import annotations

import asyncio
import email.utils
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn

from api.odata_support import free_port


@dataclass
class Fault:
    """``kind`` on the next ``times`` requests whose path contains ``match``: ``500``,
    ``429``, ``429-date`` (its Retry-After an HTTP date one second after the proxy's skewed
    clock), ``truncate``, ``corrupt``, ``stall`` (no answer for ``FaultProxy.stall`` seconds),
    ``stall-body`` (half the body, then nothing), ``vanish`` (half the body, then the proxy
    stops listening: connections are refused until it is served again), ``redirect`` (a 302 to
    the same path on the upstream: another port of the same host, as CDSE's catalogue sends
    downloads to its download host), ``redirect-away`` (a 302 to the upstream under another
    host name, ``localhost``)."""

    match: str
    kind: str
    times: int = 1


@dataclass
class FaultProxy:
    """Faults to inject and the log of requests seen."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str | None]] = field(default_factory=list)
    headers: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # path, headers
    lock: threading.Lock = field(default_factory=threading.Lock)
    stall: float = 2.0  # seconds a stalled request waits before its connection closes
    date_skew: timedelta = timedelta(0)  # added to the upstream's Date header
    on_vanish: Callable[[], None] | None = None  # stops the server (set by fault_proxy)
    # A product Id whose entries in JSON listings (DHuS ``d.results``, CDSE ``value``) get an
    # undecodable ContentDate: a source publishing one broken entry.
    mangle: str | None = None

    def skewed_now(self) -> datetime:
        """The proxy's (skewed) clock."""
        return datetime.now(UTC) + self.date_skew

    def _date(self, value: str) -> str:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return value
        return email.utils.format_datetime(when + self.date_skew, usegmt=True)

    @staticmethod
    def _mangled(body: bytes, product_id: str) -> bytes:
        try:
            document = json.loads(body)
        except ValueError:
            return body
        entries = document.get("value") if isinstance(document, dict) else None
        if entries is None and isinstance(document, dict):
            entries = (document.get("d") or {}).get("results")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("Id") == product_id:
                entry["ContentDate"] = {"Start": "garbage", "End": "garbage"}
        return json.dumps(document).encode()

    def take(self, path: str) -> str | None:
        """The fault for this request, if any (counted down)."""
        with self.lock:
            for fault in self.faults:
                if fault.match in path and fault.times > 0:
                    fault.times -= 1
                    return fault.kind
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        given = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        given.pop("host", None)
        with self.lock:
            self.log.append((path, given.get("range")))
            self.headers.append((path, dict(given)))
        fault = self.take(path)
        if fault in ("500", "429", "429-date"):
            after = "0"
            if fault == "429-date":
                after = email.utils.format_datetime(
                    self.skewed_now() + timedelta(seconds=1), usegmt=True
                )
            headers = [(b"retry-after", after.encode()), (b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": int(fault[:3]),
                        "headers": headers})  # fmt: skip
            await send({"type": "http.response.body", "body": b"injected fault"})
            return
        if fault == "stall":
            await asyncio.sleep(self.stall)
            raise ConnectionError("injected stall")
        if fault in ("redirect", "redirect-away"):
            target = f"{self.upstream}{path}" + (f"?{query}" if query else "")
            if fault == "redirect-away":
                target = target.replace("//127.0.0.1:", "//localhost:", 1)
            await send({"type": "http.response.start", "status": 302,
                        "headers": [(b"location", target.encode("latin-1"))]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        url = f"{self.upstream}{path}" + (f"?{query}" if query else "")
        async with httpx.AsyncClient() as client:
            response = await client.get(url, headers=given)
        body = response.content
        if self.mangle is not None and self.mangle.encode() in body:
            body = self._mangled(body, self.mangle)
        out = [(k.encode(), (self._date(v) if k.lower() == "date" else v).encode())
               for k, v in response.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "content-encoding",
                                    "connection")]  # fmt: skip
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        if fault in ("truncate", "stall-body", "vanish"):
            # Half the body, then the connection closes: the announced length is not met.
            await send({"type": "http.response.body", "body": body[: len(body) // 2],
                        "more_body": True})  # fmt: skip
            if fault == "stall-body":
                await asyncio.sleep(self.stall)
            if fault == "vanish" and self.on_vanish is not None:
                self.on_vanish()
            raise ConnectionError(f"injected {fault}")
        if fault == "corrupt" and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        await send({"type": "http.response.body", "body": body})


@contextmanager
def fault_proxy(
    upstream: str, *, proxy: FaultProxy | None = None, port: int | None = None
) -> Iterator[tuple[str, FaultProxy]]:
    """Serve a FaultProxy for ``upstream`` on 127.0.0.1 (``proxy`` and ``port``: serve one
    again where it vanished); yields (base URL, proxy)."""
    proxy = proxy or FaultProxy(upstream)
    port = port or free_port()
    config = uvicorn.Config(proxy, host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)

    def vanish() -> None:
        # At once (called in the server's loop): no new connection is accepted and idle
        # keep-alive ones are closed, so a resume cannot slip in before uvicorn's next tick.
        for listener in server.servers:
            listener.close()
        for connection in list(server.server_state.connections):
            connection.shutdown()
        server.should_exit = True

    proxy.on_vanish = vanish
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fault proxy did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", proxy
    finally:
        server.should_exit = True
        thread.join(timeout=20)
