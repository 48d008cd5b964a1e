"""A real HTTP proxy on 127.0.0.1 in front of a hub that injects faults on chosen requests:
an error status, a truncated body (the connection closes before the announced length), or
corrupted bytes. It logs every request (path and Range header) for the tests to check."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from api.odata_support import free_port


@dataclass
class Fault:
    """``kind`` (``500``, ``429``, ``truncate``, ``corrupt``) on the next ``times`` requests
    whose path contains ``match``."""

    match: str
    kind: str
    times: int = 1


@dataclass
class FaultProxy:
    """Faults to inject and the log of requests seen."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

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
        fault = self.take(path)
        if fault in ("500", "429"):
            headers = [(b"retry-after", b"0"), (b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": int(fault), "headers": headers})
            await send({"type": "http.response.body", "body": b"injected fault"})
            return
        url = f"{self.upstream}{path}" + (f"?{query}" if query else "")
        async with httpx.AsyncClient() as client:
            response = await client.get(url, headers=given)
        body = response.content
        out = [(k.encode(), v.encode()) for k, v in response.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "content-encoding",
                                    "connection")]  # fmt: skip
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        if fault == "truncate":
            # Half the body, then the connection closes: the announced length is not met.
            await send({"type": "http.response.body", "body": body[: len(body) // 2],
                        "more_body": True})  # fmt: skip
            raise ConnectionError("injected truncation")
        if fault == "corrupt" and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        await send({"type": "http.response.body", "body": body})


@contextmanager
def fault_proxy(upstream: str) -> Iterator[tuple[str, FaultProxy]]:
    """Serve a FaultProxy for ``upstream`` on 127.0.0.1; yields (base URL, proxy)."""
    proxy = FaultProxy(upstream)
    port = free_port()
    config = uvicorn.Config(proxy, host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)
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
