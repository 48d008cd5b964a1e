"""Versioned schema migrations: ``migrations/NNNN_name.sql`` applied in order, once each.

Every run takes a transaction-scoped advisory lock first, so several workers may call
``migrate`` at the same time: one applies the pending files, the others wait and then find
nothing left to do. Each applied file is recorded in ``schema_migrations`` with its SHA-256; a
shipped file that changed afterwards is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from eohub.errors import HubError

# Arbitrary constant identifying the eohub migration lock among advisory locks (b"eohub").
MIGRATION_LOCK_KEY = 0x656F687562
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file text."""
        return hashlib.sha256(self.text.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """Every shipped migration, by version."""
    found: list[Migration] = []
    folder = resources.files(__package__).joinpath("migrations")
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


def apply_migrations(conn: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    """Apply the pending migrations in one transaction; returns the versions applied."""
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        done = {int(str(version)): str(checksum) for version, checksum in rows}
        for migration in load_migrations():
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise HubError(
                        f"catalogue schema migration {migration.version:04d}_{migration.name} "
                        "differs from the one applied to this database; a shipped migration "
                        "must never change (restore it, or add a new migration)"
                    )
                continue
            # The file is our own shipped SQL (no parameters), run as one multi-statement batch.
            try:
                conn.execute(sql.SQL(migration.text))  # type: ignore[arg-type]
            except (pg_errors.InsufficientPrivilege, pg_errors.UndefinedFile) as exc:
                raise HubError(
                    f"catalogue schema migration {migration.version:04d}_{migration.name} "
                    "failed: the PostGIS extension is missing and this user cannot create it "
                    "(install PostGIS 3 and run CREATE EXTENSION postgis as a superuser)",
                    detail=f"migration {migration.version:04d} failed: {exc}",
                ) from exc
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.version)
    return applied_now
