"""A real hub server for the benchmarks: uvicorn with the app factory on 127.0.0.1, plus the
CPU time its processes use (Linux ``/proc``)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (uvicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of running processes (Linux /proc)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def start_server(
    data_dir: Path,
    port: int,
    workers: int,
    env: dict[str, str] | None = None,
    *,
    search_index: bool = True,
) -> subprocess.Popen[bytes]:
    """uvicorn with ``workers`` processes serving ``data_dir``; returns once /healthz answers
    and, with ``search_index``, once every worker's in-memory search index is built (20
    answers in a row on fresh connections say "ready")."""
    env = {**os.environ, "EOHUB_DATA_DIR": str(data_dir), **(env or {})}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "eohub.api.app:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--log-level", "warning", "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        server.terminate()
        raise SystemExit("the server did not start")
    started = time.monotonic()
    ready = 0
    deadline = started + 900
    while search_index and ready < 20 and time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/healthz")
        state = json.loads(conn.getresponse().read()).get("search_index")
        conn.close()
        if state in ("ready", "off"):
            ready += 1
        else:
            ready = 0
            time.sleep(0.5)
    if search_index:
        print(f"search index ready in the workers after {time.monotonic() - started:.1f} s")
    return server
