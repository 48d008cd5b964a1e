"""stac-fastapi-pgstac for ``stac_vs_pgstac.py``: its own virtualenv, a pgstac database loaded
with ``pypgstac load``, and ``uvicorn`` serving it on 127.0.0.1.

stac-fastapi-pgstac pins its own FastAPI, Starlette and pydantic, so it lives in a virtualenv of
its own (``.bench/pgstac-venv``, created with the Python running this script) rather than in the
hub's. The versions are pinned below; they install on Python 3.11.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".bench" / "pgstac-venv"
REQUIREMENTS = ("stac-fastapi.pgstac==7.2.0", "pypgstac[psycopg]==0.10.0", "uvicorn==0.54.0")
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/eohub_bench_pgstac"


def ensure_venv() -> Path:
    """The virtualenv with the pinned packages, created or updated when they differ."""
    marker = VENV / "eohub-bench-requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return VENV
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    print(f"installing {' '.join(REQUIREMENTS)} into {VENV}")
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return VENV


def _params(dsn: str) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    return dict(conninfo_to_dict(dsn))


def _admin(dsn: str) -> tuple[str, str]:
    """(DSN of the server's ``postgres`` database, name of the benchmark database)."""
    from psycopg.conninfo import make_conninfo

    params = _params(dsn)
    name = str(params.get("dbname") or "eohub_bench_pgstac")
    params["dbname"] = "postgres"
    return make_conninfo("", **params), name


def stored_items(dsn: str) -> int | None:
    """Items in a migrated pgstac database, or None when there is no such database."""
    import psycopg

    admin, name = _admin(dsn)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return None
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('pgstac.items')").fetchone()[0]:  # type: ignore[index]
            return None
        row = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()
        return int(row[0]) if row else 0


def recreate(dsn: str) -> float:
    """Drop and create the database, then ``pypgstac migrate``; returns the seconds taken."""
    import psycopg
    from psycopg import sql

    started = time.perf_counter()
    admin, name = _admin(dsn)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    pypgstac("migrate", "--dsn", dsn, quiet=True)  # it prints the version migrated to
    return time.perf_counter() - started


def pypgstac(*args: str, quiet: bool = False) -> None:
    out = subprocess.DEVNULL if quiet else None
    subprocess.run([str(VENV / "bin" / "pypgstac"), *args], check=True, stdout=out)


def load(dsn: str, collections: Path, items: Path) -> float:
    """``pypgstac load`` of the collections then the items (insert_ignore); seconds taken,
    including the ``VACUUM ANALYZE`` any bulk load is followed by before it is queried."""
    import psycopg

    started = time.perf_counter()
    pypgstac("load", "collections", str(collections), "--dsn", dsn, "--method", "insert_ignore")
    pypgstac("load", "items", str(items), "--dsn", dsn, "--method", "insert_ignore")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE pgstac.items")
    return time.perf_counter() - started


def settings(dsn: str) -> dict[str, str]:
    """pgstac's runtime settings (``pgstac.pgstac_settings``), as the server reads them."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT name, value FROM pgstac.pgstac_settings").fetchall()
    return {str(name): str(value) for name, value in rows}


def set_setting(dsn: str, name: str, value: str) -> None:
    """One of pgstac's runtime settings, e.g. ``context``: ``off`` (its default: no
    numberMatched), ``on`` (an exact count with every search) or ``auto`` (estimates above a
    threshold); ``readonly``: ``true`` spares each search its write to ``pgstac.searches``."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE pgstac.pgstac_settings SET value = %s WHERE name = %s", (value, name))


def forget_searches(dsn: str) -> None:
    """Empty ``pgstac.searches``, where pgstac keeps each search's count for a day
    (``context_stats_ttl``): a run repeating an earlier run's searches would get them free."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM pgstac.searches")


def backend_pids(dsn: str, application: str = "pgstac") -> list[int]:
    """PostgreSQL backends serving the API's pool (found by its ``application_name``)."""
    import psycopg

    _, name = _admin(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            (name, application),
        ).fetchall()
    return [int(row[0]) for row in rows]


def start(dsn: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """uvicorn with ``stac_fastapi.pgstac.app:app``; returns once ``/_mgmt/ping`` answers.

    The API's settings are its documented defaults (pool of 1 to 10 connections a worker, all
    extensions enabled); only the database comes from ``dsn``. It runs in a folder of its own so
    no ``.env`` file is picked up.
    """
    params = _params(dsn)
    env = {
        **os.environ,
        "PGUSER": str(params.get("user", "postgres")),
        "PGPASSWORD": str(params.get("password", "")),
        "PGHOST": str(params.get("host", "127.0.0.1")),
        "PGPORT": str(params.get("port", "5432")),
        "PGDATABASE": str(params.get("dbname", "eohub_bench_pgstac")),
        "STAC_FASTAPI_TITLE": "stac-fastapi-pgstac",
        "STAC_FASTAPI_DESCRIPTION": "eohub benchmark",
        "STAC_FASTAPI_LANDING_ID": "stac-fastapi-pgstac",
        "STAC_FASTAPI_VERSION": REQUIREMENTS[0].partition("==")[2],
    }
    cmd = [str(VENV / "bin" / "uvicorn"), "--factory", "stac_fastapi.pgstac.app:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--log-level", "warning", "--no-access-log"]  # fmt: skip
    run_dir = VENV.parent / "pgstac-run"
    run_dir.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(cmd, env=env, cwd=run_dir)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/_mgmt/ping")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("stac-fastapi-pgstac did not start")
