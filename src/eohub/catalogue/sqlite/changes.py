"""The change feed in the SQLite catalogue (table ``changes``, schema version 3).

One row per product created, modified or deleted, written in the same write transaction as the
change itself. SQLite has one writer at a time (``BEGIN IMMEDIATE``), so sequence numbers are
assigned in commit order and a reader can never miss an event behind one it has seen.
``AUTOINCREMENT`` keeps numbers from being reused; pruning also keeps the newest row, so the
head of the feed stays known (see :func:`prune`).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable
from datetime import datetime

from eohub.catalogue.sqlite.codec import from_us, to_us
from eohub.model.change import Change, ChangeEvent

INSERT = "INSERT INTO changes (event, product_id, name, at) VALUES (?, ?, ?, ?)"


def record(
    conn: sqlite3.Connection, events: Iterable[tuple[ChangeEvent, str, str]], at: datetime
) -> None:
    """Append (event, product Id, name) rows inside the caller's write transaction."""
    when = to_us(at)
    conn.executemany(INSERT, [(event.value, pid, name, when) for event, pid, name in events])


def after(conn: sqlite3.Connection, seq: int, limit: int) -> list[Change]:
    """At most ``limit`` events with a sequence number above ``seq``, oldest first."""
    rows = conn.execute(
        "SELECT seq, event, product_id, name, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
        (seq, limit),
    ).fetchall()
    return [
        Change(int(s), ChangeEvent(e), uuid.UUID(p), str(n), from_us(int(a)))
        for s, e, p, n, a in rows
    ]


def head(conn: sqlite3.Connection) -> int:
    """The highest sequence number written so far (0 for an empty feed)."""
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])


def prune(conn: sqlite3.Connection, before: datetime) -> int:
    """Delete events written before ``before``, except the newest; returns how many.

    No index on ``at``: pruning is rare and a scan is cheap next to one more B-tree insert for
    every product ingested.
    """
    cursor = conn.execute(
        "DELETE FROM changes WHERE at < ? AND seq < (SELECT max(seq) FROM changes)",
        (to_us(before),),
    )
    return int(cursor.rowcount)
