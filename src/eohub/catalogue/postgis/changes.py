"""The change feed in the PostGIS catalogue (table ``changes``, migration 0004).

Several writers commit at once here, and an identity column alone hands out numbers in the
order transactions *ask*, not the order they *commit*: a reader could see 8 while 7 is still
uncommitted, move its cursor past 7, and never see it. So every writer takes one
transaction-level advisory lock right before appending its events, and holds it to its commit
(PostgreSQL makes a transaction visible before it releases its locks): numbers are assigned in
commit order. The lock is taken last in the transaction, so writers only queue for the append
and the commit, not for the whole write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from eohub.catalogue.postgis.connection import Conn
from eohub.model.change import Change, ChangeEvent

# Arbitrary constant naming the feed's lock among advisory locks (b"eofeed").
FEED_LOCK_KEY = 0x656F66656564


def record(conn: Conn, events: Sequence[tuple[ChangeEvent, uuid.UUID, str]], at: datetime) -> None:
    """Append (event, product Id, name) rows inside the caller's transaction, in order."""
    if not events:
        return
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK_KEY,))
    # One statement for the whole batch; ORDER BY ordinality numbers the rows in list order.
    conn.execute(
        "INSERT INTO changes (event, product_id, name, at) "
        "SELECT e, p, n, %s FROM unnest(%s::text[], %s::uuid[], %s::text[]) "
        "WITH ORDINALITY AS t(e, p, n, i) ORDER BY i",
        (at, [e.value for e, _, _ in events], [p for _, p, _ in events], [n for *_, n in events]),
    )


def after(conn: Conn, seq: int, limit: int) -> list[Change]:
    """At most ``limit`` events with a sequence number above ``seq``, oldest first."""
    rows = conn.execute(
        "SELECT seq, event, product_id, name, at FROM changes WHERE seq > %s ORDER BY seq LIMIT %s",
        (seq, limit),
    ).fetchall()
    out: list[Change] = []
    for s, e, p, n, a in rows:
        stamp: datetime = a  # type: ignore[assignment]
        pid: uuid.UUID = p  # type: ignore[assignment]
        out.append(Change(int(str(s)), ChangeEvent(str(e)), pid, str(n), stamp.astimezone(UTC)))
    return out


def head(conn: Conn) -> int:
    """The highest committed sequence number (0 for an empty feed)."""
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()
    return int(str(row[0])) if row else 0


def prune(conn: Conn, before: datetime) -> int:
    """Delete events written before ``before``, except the newest; returns how many."""
    with conn.transaction():
        cursor = conn.execute(
            "DELETE FROM changes WHERE at < %s AND seq < (SELECT max(seq) FROM changes)",
            (before,),
        )
        return int(cursor.rowcount)
