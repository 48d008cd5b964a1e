"""Shared fixtures: real SQLite files and real PostgreSQL + PostGIS databases.

PostGIS comes from the local server (``EOHUB_TEST_PG_DSN``, default
``postgresql://eohub_test:eohub_test@127.0.0.1:5432/postgres``
(the role made by ``scripts/setup-system.sh --test``)). Each test gets its own database cloned
from a template that has the extension. Outside CI a missing server skips those tests loudly;
with ``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ADMIN_DSN = os.environ.get(
    "EOHUB_TEST_PG_DSN", "postgresql://eohub_test:eohub_test@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_TEMPLATE = f"eohub_tpl_{os.getpid()}"


def _with_db(dsn: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


def _admin() -> Any:
    import psycopg

    return psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL + PostGIS needed for this test is unavailable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI requires it)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgis_template() -> Iterator[str]:
    """Name of a template database with the PostGIS extension (created once per session)."""
    try:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}"')
            conn.execute(f'CREATE DATABASE "{_TEMPLATE}"')
        import psycopg

        with psycopg.connect(_with_db(ADMIN_DSN, _TEMPLATE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except Exception as exc:  # any failure means "no usable server"
        _unavailable(f"{type(exc).__name__}: {exc}")
    yield _TEMPLATE
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')


@pytest.fixture
def postgres_dsn(postgis_template: str) -> Iterator[str]:
    """DSN of a fresh, empty database with PostGIS, dropped after the test."""
    name = f"eohub_t_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgis_template}"')
    yield _with_db(ADMIN_DSN, name)
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """Path of a (not yet created) SQLite catalogue file."""
    return tmp_path / "catalogue.sqlite"


BackendFactory = Callable[[], Any]


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Each catalogue backend in turn."""
    return str(request.param)


@pytest.fixture
def catalogue_backend(request: pytest.FixtureRequest, backend_name: str) -> Iterator[Any]:
    """A migrated, empty catalogue backend of each kind (real SQLite file, real PostGIS)."""
    if backend_name.startswith("sqlite"):
        from eohub.catalogue.sqlite import SQLiteCatalogue

        backend: Any = SQLiteCatalogue(
            request.getfixturevalue("sqlite_path"), memory_index=backend_name == "sqlite"
        )
    else:
        from eohub.catalogue.postgis import PostgisCatalogue

        backend = PostgisCatalogue(request.getfixturevalue("postgres_dsn"))
    backend.migrate()
    yield backend
    backend.close()
