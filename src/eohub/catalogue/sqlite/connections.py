"""SQLite connections: one writer thread owning the only write connection, and a read pool.

Writes are queued to a single-thread executor; each runs in ``BEGIN IMMEDIATE`` on the writer
connection, so writers never deadlock each other and a batch is one transaction. Readers take a
connection from a thread-safe pool (``query_only``); in WAL mode they never block the writer
and see the last committed state. sqlite3 errors are translated here into eohub errors.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from eohub.catalogue.sqlite import functions, schema
from eohub.errors import CatalogueUnavailable, HubError

T = TypeVar("T")

# Map the whole file: read through the OS page cache, not SQLite's private cache. SQLite caps
# this at its build's limit (2 GiB in Debian's); pages past the mapping cost a system call per
# read, ~3 ms a search on a 2 GB catalogue of 1 million products when only 1 GiB was mapped.
_MMAP_BYTES = 1 << 40
_WRITER_CACHE_KIB = 256 * 1024  # index pages stay cached during bulk loads
_READER_CACHE_KIB = 32 * 1024
_CHECKPOINT_BYTES = 4 << 20  # WAL size that triggers a background checkpoint

_BUSY = {"SQLITE_BUSY", "SQLITE_LOCKED"}
_BROKEN = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}
_IO = {"SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_PERM"}


def _unavailable(message: str, technical: str) -> CatalogueUnavailable:
    return CatalogueUnavailable(message, detail=f"{message} [{technical}]")


def translate(exc: sqlite3.Error, path: Path, busy_timeout_s: float) -> HubError | None:
    """The eohub error for an expected sqlite3 failure, or None for a programming error."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])  # SQLITE_IOERR_SHORT_READ -> SQLITE_IOERR
    text = str(exc)
    technical = f"{name or type(exc).__name__}: {text}"
    if base in _BUSY or "locked" in text or "busy" in text:
        return _unavailable(
            f"catalogue database {path} is locked by another process "
            f"(still locked after {busy_timeout_s:g} s); try again later",
            technical,
        )
    if base in _BROKEN:
        return _unavailable(
            f"catalogue database {path} is not a SQLite database or is damaged", technical
        )
    if base in _IO or "unable to open" in text:
        return _unavailable(
            f"catalogue database {path} cannot be opened or written ({text})", technical
        )
    if "no such table" in text:
        return _unavailable(
            f"catalogue database {path} has no schema yet; run the migration first", technical
        )
    return None


class _Checkpointer:
    """Copies committed WAL frames into the database file on its own thread.

    SQLite's automatic checkpoint runs inside the committing writer; on a million products a
    5,000-product batch dirties ~55,000 pages, and copying them back costs the writer about as
    much as the inserts. A PASSIVE checkpoint here blocks neither the writer nor readers, so on
    two cores it overlaps with the next batch.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poke(self) -> None:
        """Ask for a checkpoint soon."""
        with self._lock:
            if self._stop:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="eohub-sqlite-checkpoint", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                break
            try:
                if conn is None:
                    conn = self._connect()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # retried at the next poke; the WAL stays valid meanwhile
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._stop = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=60)


class Connections:
    """The writer thread and the read pool of one SQLite catalogue file."""

    def __init__(self, path: Path, *, read_connections: int, busy_timeout_s: float) -> None:
        if read_connections < 1:
            raise ValueError("read_connections must be at least 1")
        self.path = Path(path)
        self.busy_timeout_s = float(busy_timeout_s)
        self._max_readers = read_connections
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eohub-sqlite-writer")
        self._write_conn: sqlite3.Connection | None = None  # touched by the writer thread only
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._wal = Path(f"{self.path}-wal")
        self._checkpointer = _Checkpointer(lambda: self._connect("rw"))

    # -- opening ---------------------------------------------------------------------------------
    def _connect(self, mode: str) -> sqlite3.Connection:
        uri = f"{self.path.absolute().as_uri()}?mode={mode}"
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=self.busy_timeout_s,
            isolation_level=None,  # explicit BEGIN/COMMIT only
            check_same_thread=False,
            cached_statements=256,
        )
        try:
            functions.register(conn)
            conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _writer_connection(self) -> sqlite3.Connection:
        if self._write_conn is None:
            conn = self._connect("rwc")
            try:
                schema.check_identity(conn, str(self.path))
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute(f"PRAGMA cache_size = -{_WRITER_CACHE_KIB}")
                conn.execute("PRAGMA wal_autocheckpoint = 0")  # see _Checkpointer
            except BaseException:
                conn.close()
                raise
            self._write_conn = conn
        return self._write_conn

    def _new_reader(self) -> sqlite3.Connection:
        conn = self._connect("rw")
        conn.execute("PRAGMA query_only = 1")
        conn.execute(f"PRAGMA cache_size = -{_READER_CACHE_KIB}")
        return conn

    # -- use -------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise CatalogueUnavailable(f"catalogue {self.path} is closed")

    def _translated(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except sqlite3.Error as exc:
            hub_error = translate(exc, self.path, self.busy_timeout_s)
            if hub_error is None:
                raise
            raise hub_error from exc

    def write(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> T:
        """Run ``fn`` on the writer thread, inside ``BEGIN IMMEDIATE`` ... ``COMMIT``.

        Any exception rolls the whole transaction back and is re-raised here.
        """
        return self.submit(fn, transaction=transaction).result()

    def submit(
        self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True
    ) -> Future[T]:
        """Queue ``fn`` for the writer thread (see :meth:`write`); returns its future."""
        self._check_open()

        def job() -> T:
            conn = self._writer_connection()
            if not transaction:
                return fn(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._after_commit()
            return result

        try:
            return self._writer.submit(self._translated, job)
        except RuntimeError:  # the executor was shut down by close()
            raise CatalogueUnavailable(f"catalogue {self.path} is closed") from None

    def _after_commit(self) -> None:
        try:
            big = self._wal.stat().st_size > _CHECKPOINT_BYTES
        except OSError:
            big = False
        if big:
            self._checkpointer.poke()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read connection for the duration of the block (one snapshot if you BEGIN)."""
        self._check_open()
        conn = self._acquire()
        try:
            yield conn
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            hub_error = translate(exc, self.path, self.busy_timeout_s)
            if hub_error is None:
                raise
            raise hub_error from exc
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._release(conn)

    def _acquire(self) -> sqlite3.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._readers) < self._max_readers:
                conn = self._translated(self._new_reader)
                self._readers.append(conn)
                return conn
        try:
            return self._idle.get(timeout=max(self.busy_timeout_s, 0.001))
        except queue.Empty:
            raise CatalogueUnavailable(
                f"all {self._max_readers} read connections of {self.path} stayed busy for "
                f"{self.busy_timeout_s:g} s"
            ) from None

    def _release(self, conn: sqlite3.Connection) -> None:
        if self._closed:
            conn.close()
        else:
            self._idle.put(conn)

    def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._closed:
            return
        self._closed = True

        def close_writer() -> None:
            if self._write_conn is not None:
                self._write_conn.close()
                self._write_conn = None

        self._writer.submit(close_writer).result()
        self._writer.shutdown(wait=True)
        self._checkpointer.close()
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break
