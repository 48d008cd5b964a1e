"""The PostGIS change feed under concurrent writers: a reader following the feed with a cursor
never misses an event, because numbers are assigned in commit order (the feed lock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from catalogue_samples import T0, bare_product
from eohub.catalogue.postgis import PostgisCatalogue
from eohub.model.change import Change

pytestmark = pytest.mark.postgis

ROUNDS = 120  # upserts per writer
DEADLINE_S = 120.0


@pytest.fixture
def backend(postgres_dsn: str) -> Iterator[PostgisCatalogue]:
    catalogue = PostgisCatalogue(postgres_dsn, pool_size=6)
    catalogue.migrate()
    yield catalogue
    catalogue.close()


def test_a_polling_reader_never_misses_an_event(backend: PostgisCatalogue) -> None:
    done = threading.Event()
    failures: list[BaseException] = []

    def write(tag: str) -> None:
        try:
            for i in range(ROUNDS):
                batch = [bare_product(f"CONC_{tag}_{i:04d}_{k}", T0) for k in range(3)]
                backend.upsert(batch)
                if i % 5 == 0:
                    backend.delete(batch[0].id)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    seen: list[Change] = []

    def read() -> None:
        cursor = 0
        end = time.monotonic() + DEADLINE_S
        try:
            while time.monotonic() < end:
                finished = done.is_set()  # read once more after the writers stopped
                batch = backend.changes(cursor, 50)
                seen.extend(batch)
                if batch:
                    cursor = batch[-1].seq
                elif finished:
                    return
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(tag,)) for tag in ("A", "B")]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(DEADLINE_S)
    done.set()
    reader.join(DEADLINE_S)
    assert not failures, failures
    assert not reader.is_alive() and not any(t.is_alive() for t in writers)

    everything = backend.changes(0, 100_000)
    assert len(everything) == 2 * ROUNDS * 3 + 2 * (ROUNDS // 5)
    assert [c.seq for c in seen] == [c.seq for c in everything]  # nothing missed, no repeat
