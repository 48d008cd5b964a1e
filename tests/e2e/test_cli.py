"""The installed ``eohub`` command, run as users run it (real processes, real HTTP)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

EOHUB = [sys.executable, "-m", "eohub"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EOHUB, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_config_show_reads_env_and_toml(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("[server]\nport = 9999\n[catalogue]\nread_connections = 3\n")
    env = {**os.environ, "EOHUB_DATA_DIR": str(tmp_path / "d"), "EOHUB_SERVER__HOST": "0.0.0.0"}
    result = _run("--config", str(config), "config", "show", env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["data_dir"] == str(tmp_path / "d")
    assert shown["server"]["host"] == "0.0.0.0"  # environment wins over the file
    assert shown["server"]["port"] == 9999  # from the file
    assert shown["server"]["workers"] == 1  # default
    assert shown["catalogue"]["read_connections"] == 3


def test_config_rejects_unknown_settings(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 1\n")
    result = _run("--config", str(config), "config", "show")
    assert result.returncode != 0
    assert "prot" in result.stderr


def test_secrets_are_masked(tmp_path: Path) -> None:
    env = {**os.environ, "EOHUB_CATALOGUE__DSN": "postgresql://u:hunter2@localhost/x"}
    result = _run("--data-dir", str(tmp_path), "config", "show", env=env)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout


def test_migrate_demo_serve_and_search(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _run("--data-dir", str(data), "db", "migrate").returncode == 0
    demo = _run("--data-dir", str(data), "demo", "--products", "12")
    assert demo.returncode == 0, demo.stderr
    assert (data / "catalogue.sqlite").is_file()
    port = _free_port()
    server = subprocess.Popen(
        [*EOHUB, "--data-dir", str(data), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.2)
        body = httpx.get(f"{base}/api/search", params={"count": "true"}, timeout=10).json()
        assert body["total"] == 12
        password_file = data / "admin-password"  # the first start created the administrator
        assert password_file.stat().st_mode & 0o777 == 0o600
        root = ("root", password_file.read_text().strip())
        product = body["items"][0]["id"]
        url = f"{base}/odata/v1/Products('{product}')/$value"
        assert httpx.get(url, timeout=10).status_code == 401
        assert httpx.get(url, auth=root, timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
