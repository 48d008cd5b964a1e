"""SQLite-only behaviour of the embedded catalogue: WAL, concurrency, locking, migrations,
bound parameters, exact round trips and index maintenance. Real files, real threads."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import shapely

from catalogue_samples import make_product
from eohub.catalogue.sqlite import SQLiteCatalogue, compiler
from eohub.catalogue.sqlite.codec import InvalidProduct, fts_document
from eohub.catalogue.sqlite.compiler import compile_filter
from eohub.catalogue.sqlite.ordering import keyset
from eohub.catalogue.sqlite.schema import LATEST_VERSION
from eohub.demo.records import generate_products
from eohub.errors import CatalogueUnavailable, Conflict, InvalidQuery
from eohub.model import Checksum, Footprint, Product, TimeRange
from eohub.query import (
    And,
    Compare,
    CompareOp,
    CountMode,
    Cursor,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Query,
    Range,
    SortKey,
    Spatial,
    SpatialOp,
    Text,
    normalize_query,
)
from eohub.query.evaluate import search as reference_search
from eohub.query.fields import FIELDS
from eohub.query.normalize import MAX_DEPTH


@pytest.fixture
def backend(sqlite_path: Path) -> Iterator[SQLiteCatalogue]:
    """The SQL paths only: the in-memory index (tested on its own) would answer first."""
    cat = SQLiteCatalogue(sqlite_path, memory_index=False)
    cat.migrate()
    yield cat
    cat.close()


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def table_counts(path: Path) -> dict[str, int]:
    with raw(path) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("products", "products_rtree", "products_fts", "product_attributes")
        }


def run(backend: SQLiteCatalogue, query: Query) -> list[str]:
    return [p.name for p in backend.search(normalize_query(query)).items]


# -- file, WAL and migrations ---------------------------------------------------------------------
def test_wal_mode_is_on_and_schema_versioned(backend: SQLiteCatalogue, sqlite_path: Path) -> None:
    with raw(sqlite_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION


def test_migrations_are_idempotent_and_keep_data(sqlite_path: Path) -> None:
    first = SQLiteCatalogue(sqlite_path)
    first.migrate()
    first.upsert([make_product("P1")])
    with raw(sqlite_path) as conn:
        schema_before = conn.execute("SELECT name, sql FROM sqlite_schema ORDER BY name").fetchall()
    first.migrate()
    first.close()
    second = SQLiteCatalogue(sqlite_path)
    second.migrate()
    second.migrate()
    with raw(sqlite_path) as conn:
        schema_after = conn.execute("SELECT name, sql FROM sqlite_schema ORDER BY name").fetchall()
    assert schema_after == schema_before
    assert second.find_by_name("P1") == make_product("P1")
    second.close()


def test_two_catalogues_migrating_one_file_at_once(sqlite_path: Path) -> None:
    cats = [SQLiteCatalogue(sqlite_path) for _ in range(3)]
    errors: list[BaseException] = []

    def go(cat: SQLiteCatalogue) -> None:
        try:
            cat.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(c,)) for c in cats]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert cats[0].upsert([make_product("P1")]) == 1
    assert cats[2].get(make_product("P1").id) is not None
    for c in cats:
        c.close()


def test_foreign_database_is_refused_and_left_alone(sqlite_path: Path) -> None:
    with raw(sqlite_path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    before = sqlite_path.read_bytes()
    cat = SQLiteCatalogue(sqlite_path)
    with pytest.raises(CatalogueUnavailable, match="another application"):
        cat.migrate()
    cat.close()
    assert sqlite_path.read_bytes() == before


def test_newer_schema_is_refused(sqlite_path: Path) -> None:
    cat = SQLiteCatalogue(sqlite_path)
    cat.migrate()
    cat.close()
    with raw(sqlite_path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    cat = SQLiteCatalogue(sqlite_path)
    with pytest.raises(CatalogueUnavailable, match="newer than this eohub supports"):
        cat.migrate()
    cat.close()


def test_corrupt_file_gives_a_clear_error_and_is_not_changed(sqlite_path: Path) -> None:
    sqlite_path.write_bytes(b"this is not a database at all\n" * 200)
    before = sqlite_path.read_bytes()
    cat = SQLiteCatalogue(sqlite_path)
    with pytest.raises(CatalogueUnavailable, match="not a SQLite database or is damaged"):
        cat.migrate()
    with pytest.raises(CatalogueUnavailable, match="not a SQLite database or is damaged"):
        cat.search(normalize_query(Query()))
    with pytest.raises(CatalogueUnavailable):
        cat.upsert([make_product("P1")])
    cat.close()
    assert sqlite_path.read_bytes() == before


def test_unreachable_file_gives_a_clear_error(tmp_path: Path) -> None:
    cat = SQLiteCatalogue(tmp_path / "missing-dir" / "catalogue.sqlite")
    with pytest.raises(CatalogueUnavailable, match="cannot be opened"):
        cat.migrate()
    with pytest.raises(CatalogueUnavailable, match="cannot be opened"):
        cat.get(uuid.uuid4())
    cat.close()


def test_search_before_migrate_names_the_fix(sqlite_path: Path) -> None:
    raw(sqlite_path).close()
    cat = SQLiteCatalogue(sqlite_path)
    with pytest.raises(CatalogueUnavailable, match="run the migration"):
        cat.count(normalize_query(Query()))
    cat.close()


def test_closed_catalogue_refuses_calls(sqlite_path: Path) -> None:
    cat = SQLiteCatalogue(sqlite_path)
    cat.migrate()
    cat.close()
    cat.close()  # twice is fine
    with pytest.raises(CatalogueUnavailable, match="closed"):
        cat.upsert([make_product("P1")])
    with pytest.raises(CatalogueUnavailable, match="closed"):
        cat.get(uuid.uuid4())


# -- locking and concurrency ---------------------------------------------------------------------
def test_locked_database_gives_catalogue_unavailable_and_writes_nothing(sqlite_path: Path) -> None:
    cat = SQLiteCatalogue(sqlite_path, busy_timeout_s=0.2)
    cat.migrate()
    cat.upsert([make_product("P1")])
    other = raw(sqlite_path)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        with pytest.raises(CatalogueUnavailable, match="locked") as info:
            cat.upsert([make_product("P2")])
        assert time.monotonic() - started < 5
        assert "0.2 s" in info.value.user_message
        with pytest.raises(CatalogueUnavailable, match="locked"):
            cat.delete(make_product("P1").id)
        # Readers are not blocked by a writer in WAL mode.
        assert cat.count(normalize_query(Query())) == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert cat.find_by_name("P2") is None
    assert cat.upsert([make_product("P2")]) == 1  # works again once the lock is gone
    assert cat.count(normalize_query(Query())) == 2
    cat.close()


def test_exclusive_lock_blocks_readers_with_a_clear_error(sqlite_path: Path) -> None:
    cat = SQLiteCatalogue(sqlite_path, busy_timeout_s=0.2)
    cat.migrate()
    cat.upsert([make_product("P1")])
    cat.close()
    other = raw(sqlite_path)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        cat = SQLiteCatalogue(sqlite_path, busy_timeout_s=0.2)
        with pytest.raises(CatalogueUnavailable, match="locked"):
            cat.search(normalize_query(Query()))
        cat.close()
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_concurrent_readers_during_writes_see_whole_batches(sqlite_path: Path) -> None:
    cat = SQLiteCatalogue(sqlite_path, read_connections=3)
    cat.migrate()
    products = list(generate_products(1200, seed=3))
    batch = 150
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    query = normalize_query(Query(limit=5, count=CountMode.EXACT))

    def reader() -> None:
        last = 0
        try:
            for _ in range(2000):  # bounded
                if stop.is_set():
                    break
                total = cat.search(query).total
                assert total is not None
                assert total % batch == 0, f"saw a partial batch: {total}"
                assert total >= last, "a reader went back in time"
                last = total
                seen.append(total)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(5)]  # more threads than pool
    for t in readers:
        t.start()
    try:
        for start in range(0, len(products), batch):
            assert cat.upsert(products[start : start + batch]) == batch
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert errors == []
    assert len(set(seen)) > 1  # the readers really ran while the writer wrote
    assert cat.count(normalize_query(Query())) == len(products)
    cat.close()


def test_committed_writes_reach_the_database_file_in_the_background(
    backend: SQLiteCatalogue, sqlite_path: Path
) -> None:
    empty = sqlite_path.stat().st_size
    backend.upsert(generate_products(3000, seed=8))
    assert Path(f"{sqlite_path}-wal").stat().st_size > 4 << 20  # big enough to checkpoint
    deadline = time.monotonic() + 30
    while sqlite_path.stat().st_size <= empty and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sqlite_path.stat().st_size > empty  # copied without closing the catalogue


def test_writes_from_many_threads_are_serialised(backend: SQLiteCatalogue) -> None:
    products = list(generate_products(200, seed=4))
    threads = [threading.Thread(target=backend.upsert, args=(products[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert backend.count(normalize_query(Query())) == 200


# -- the compiler binds every value ----------------------------------------------------------
HOSTILE = "x'); DROP TABLE products; --"


def _filters() -> list[Node]:
    fp = Footprint.from_wkt("POLYGON((10 45, 12 45, 12 47, 10 47, 10 45))")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    return [
        Compare("name", CompareOp.EQ, HOSTILE),
        Compare("collection", CompareOp.EQ, HOSTILE, ignore_case=True),
        Compare("mission", CompareOp.NE, HOSTILE),
        In("platform", (HOSTILE, "Sentinel-2A"), ignore_case=True),
        Like("name", HOSTILE + "*", ignore_case=True),
        Like("tile_id", "*" + HOSTILE),
        Range("sensing_start", low=when, high=when + timedelta(days=3)),
        Compare("attributes." + HOSTILE, CompareOp.EQ, HOSTILE),
        Not(Compare("attributes.qualityStatus", CompareOp.NE, HOSTILE)),
        Text(HOSTILE + " sentinel*"),
        Spatial(SpatialOp.INTERSECTS, fp),
        Not(IsNull("cloud_cover")),
        Or((Compare("size", CompareOp.GT, 10**30), Compare("online", CompareOp.EQ, True))),
    ]


@pytest.mark.parametrize("node", _filters(), ids=lambda n: type(n).__name__)
def test_compiled_sql_has_bound_parameters_only(node: Node, backend: SQLiteCatalogue) -> None:
    query = normalize_query(Query(filter=node))
    sql = compile_filter(query.filter).sql
    assert "DROP" not in sql.text and "x'" not in sql.text
    assert "2024" not in sql.text and "Sentinel" not in sql.text
    assert sql.text.count("?") == len(sql.params)
    backend.search(query)  # runs without error
    assert backend.count(normalize_query(Query())) == 0
    with raw(backend.path) as conn:  # the table is still there
        assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == 0


def test_keyset_is_bound_too() -> None:
    sort = (SortKey("tile_id", True), SortKey("cloud_cover"), SortKey("id"))
    cursor = Cursor(sort, (HOSTILE, None, uuid.uuid4()))
    sql = keyset(cursor)
    assert HOSTILE not in sql.text and sql.text.count("?") == len(sql.params)


# -- round trips and index maintenance ----------------------------------------------------------
def full_product() -> Product:
    """Every field set, odd types and an antimeridian footprint (original != search)."""
    plus2 = timezone(timedelta(hours=2))
    return make_product(
        "S1A_IW_GRDH_1SDV_full",
        id=uuid.UUID("00000000-0000-4000-8000-0000000000ff"),
        collection="SENTINEL-1",
        platform="Sentinel-1A",
        product_type="GRD",
        sensing=TimeRange(
            datetime(2021, 8, 9, 17, 39, 53, 123456, tzinfo=UTC),
            datetime(2021, 8, 9, 17, 40, 18, 999999, tzinfo=UTC),
        ),
        footprint=Footprint.from_wkt("POLYGON((179 -17, -179 -17, -179 -15, 179 -15, 179 -17))"),
        size=2**40 + 7,
        checksums=(
            Checksum("md5", "ABCDEF0123", datetime(2021, 8, 10, 1, 2, 3, 4, tzinfo=plus2)),
            Checksum("BLAKE3", "00ff", None),
        ),
        online=False,
        instrument="SAR",
        processing_level="LEVEL1",
        processing_baseline="003.52",
        orbit_number=39156,
        relative_orbit=73,
        orbit_direction="ASCENDING",
        cloud_cover=12.345678901234567,
        tile_id="01KAB",
        polarisation="VV VH",
        sensor_mode="IW",
        swath="IW1 IW2 IW3",
        timeliness="NRT-3h",
        product_class="S",
        attributes={
            "flag": True,
            "off": False,
            "count": -(2**62),
            "ratio": 0.1,
            "whole": 3.0,
            "when": datetime(2021, 8, 9, 20, 0, tzinfo=plus2),
            "naive": datetime(2021, 8, 9, 20, 0, 0, 7),
            "text": "Zürich ÉTÉ zz",
            "empty": "",
        },
        archive_key="products/ab/full.zip",
        quicklook_key="quicklooks/ab/full.jpg",
        thumbnail_key="thumbnails/ab/full.png",
    )


def test_every_field_round_trips_exactly(backend: SQLiteCatalogue) -> None:
    product = full_product()
    for spec in dataclasses.fields(Product):  # a new Product field must be added here too
        default = spec.default_factory() if callable(spec.default_factory) else spec.default
        assert getattr(product, spec.name) != default, f"full_product() leaves {spec.name} unset"
    bare = make_product("bare", footprint=None, cloud_cover=None)
    assert backend.upsert([product, bare]) == 2
    got = backend.get(product.id)
    assert got == product
    assert got is not None and got.footprint is not None and product.footprint is not None
    assert got.footprint.original.equals_exact(product.footprint.original, 0)
    assert got.footprint.search.equals_exact(product.footprint.search, 0)
    assert shapely.to_wkb(got.footprint.original) == shapely.to_wkb(product.footprint.original)
    for key, value in product.attributes.items():
        assert type(got.attributes[key]) is type(value), key
        assert got.attributes[key] == value
        stored = got.attributes[key]
        if isinstance(value, datetime) and isinstance(stored, datetime):
            assert stored.utcoffset() == value.utcoffset(), key
    assert got.checksums == product.checksums
    assert got.checksums[0].computed_at.utcoffset() == timedelta(hours=2)  # type: ignore[union-attr]
    assert backend.get(bare.id) == bare
    assert backend.find_by_name("bare") == bare
    assert backend.get_many([bare.id, uuid.uuid4(), product.id, bare.id]) == [
        bare,
        product,
        bare,
    ]


def test_replacing_a_product_replaces_its_index_rows(
    backend: SQLiteCatalogue, sqlite_path: Path
) -> None:
    old = full_product()
    backend.upsert([old, make_product("other")])
    new = replace(
        old,
        name="renamed",
        footprint=Footprint.from_wkt("POLYGON((20 20, 21 20, 21 21, 20 21, 20 20))"),
        attributes={"colour": "blue"},
    )
    assert backend.upsert([new]) == 1
    assert table_counts(sqlite_path) == {
        "products": 2,
        "products_rtree": 2,  # one box each: the antimeridian pair is gone
        "products_fts": 2,
        "product_attributes": 2,  # the new product's one attribute and the other's one
    }
    assert backend.get(old.id) == new
    assert backend.find_by_name(old.name) is None
    near_180 = Footprint.from_wkt("POLYGON((178 -18, 179.5 -18, 179.5 -14, 178 -14, 178 -18))")
    assert run(backend, Query(filter=Spatial(SpatialOp.INTERSECTS, near_180))) == []
    assert run(backend, Query(filter=Text("zurich"))) == []
    assert run(backend, Query(filter=Text("blue"))) == ["renamed"]
    assert run(backend, Query(filter=Compare("attributes.text", CompareOp.NE, "x"))) == []
    assert backend.delete(old.id) is not None
    assert backend.delete(old.id) is None
    assert table_counts(sqlite_path) == {
        "products": 1,
        "products_rtree": 1,
        "products_fts": 1,
        "product_attributes": 1,  # the other product's only: the deleted one's are gone
    }


def test_upsert_counts_ids_and_last_version_wins(backend: SQLiteCatalogue) -> None:
    a1 = make_product("A", size=1)
    a2 = replace(a1, size=2)
    assert backend.upsert([a1, make_product("B"), a2]) == 2
    assert backend.get(a1.id) == a2
    assert backend.upsert([]) == 0


def test_bad_product_in_a_large_batch_stores_nothing(
    backend: SQLiteCatalogue, sqlite_path: Path
) -> None:
    backend.upsert([make_product("kept")])
    good = list(generate_products(2500, seed=9))  # several encoding chunks
    bad = make_product("bad", cloud_cover=float("nan"))
    with pytest.raises(InvalidProduct, match="'bad': cloud_cover must be a finite number"):
        backend.upsert([*good, bad])
    assert table_counts(sqlite_path)["products"] == 1

    def failing() -> object:
        yield from good
        raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError, match="reader failed"):
        backend.upsert(failing())  # type: ignore[arg-type]
    assert table_counts(sqlite_path) == {
        "products": 1,
        "products_rtree": 1,
        "products_fts": 1,
        "product_attributes": 1,  # the kept product's only
    }
    assert backend.upsert(good) == 2500  # the catalogue still works


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"platform": "Sentinel\x00"}, "platform contains a NUL character"),
        ({"tile_id": "\ud800"}, "not valid Unicode"),
        ({"size": 2**70}, "64 bits"),
        ({"size": "big"}, "must be an integer"),
        ({"attributes": {"x": float("inf")}}, "not finite"),
        ({"attributes": {"x": [1, 2]}}, "unsupported type list"),
        ({"attributes": {"x": None}}, "unsupported type NoneType"),
        ({"online": 1}, "online must be a bool"),
    ],
)
def test_values_sqlite_cannot_keep_are_refused(
    backend: SQLiteCatalogue, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidProduct, match=message):
        backend.upsert([make_product("ok"), make_product("P", **changes)])
    assert backend.count(normalize_query(Query())) == 0


def test_name_conflicts_are_refused_without_changes(backend: SQLiteCatalogue) -> None:
    stored = make_product("same")
    backend.upsert([stored])
    intruder = replace(make_product("other"), name="same")
    with pytest.raises(Conflict, match="already stored with another Id"):
        backend.upsert([make_product("fresh"), intruder])
    with pytest.raises(Conflict, match="both named 'x1'"):
        backend.upsert([make_product("x1"), replace(make_product("x2"), name="x1")])
    assert backend.count(normalize_query(Query())) == 1
    # Swapping names between two stored products in one batch is not a conflict.
    a, b = make_product("a"), make_product("b")
    backend.upsert([a, b])
    backend.upsert([replace(a, name="b"), replace(b, name="a")])
    assert backend.find_by_name("a") == replace(b, name="a")


# -- search details ------------------------------------------------------------------------------
def test_antimeridian_footprint_found_from_both_sides(
    backend: SQLiteCatalogue, sqlite_path: Path
) -> None:
    backend.upsert([full_product(), make_product("far")])
    with raw(sqlite_path) as conn:
        assert conn.execute("SELECT count(*) FROM products_rtree").fetchone()[0] == 3
    east = Footprint.from_wkt("POLYGON((179.5 -16.5, 179.9 -16.5, 179.9 -16, 179.5 -16.5))")
    west = Footprint.from_wkt("POLYGON((-179.9 -16.5, -179.5 -16.5, -179.5 -16, -179.9 -16.5))")
    across = Footprint.from_wkt("POLYGON((178 -30, 182 -30, 182 -10, 178 -10, 178 -30))")
    for geometry in (east, west, across):
        assert run(backend, Query(filter=Spatial(SpatialOp.INTERSECTS, geometry))) == [
            "S1A_IW_GRDH_1SDV_full"
        ]
    assert run(backend, Query(filter=Spatial(SpatialOp.WITHIN, across))) == [
        "S1A_IW_GRDH_1SDV_full"
    ]


def test_touching_at_a_coordinate_float32_cannot_hold(backend: SQLiteCatalogue) -> None:
    """The R*Tree stores float32 boxes; rounding must never lose a touching product."""
    edge = 10.1  # not representable in float32
    product = make_product(
        "touch",
        footprint=Footprint.from_wkt(f"POLYGON((9 45, {edge} 45, {edge} 46, 9 46, 9 45))"),
    )
    backend.upsert([product])
    query = Footprint.from_wkt(f"POLYGON(({edge} 45.5, 12 45.5, 12 47, {edge} 47, {edge} 45.5))")
    assert run(backend, Query(filter=Spatial(SpatialOp.INTERSECTS, query))) == ["touch"]


def test_text_tokens_beyond_ascii_match_the_reference(backend: SQLiteCatalogue) -> None:
    products = [
        make_product("p1", attributes={"place": "Zürich"}),
        make_product("p2", attributes={"place": "zurich zz"}),
        make_product("p3", attributes={"place": "ZÜRICHSEE Straße"}),
        make_product("p4", attributes={"place": "z9 ż"}),
    ]
    assert " z" not in fts_document(products[0]).replace(" zz", "")  # spelled, not raw
    backend.upsert(products)
    for text in ("zürich", "ZÜRICH", "zür*", "zurich", "z*", "zz", "straße", "ż", "z9", "zü"):
        query = normalize_query(Query(filter=Text(text), limit=10))
        expected = [p.name for p in reference_search(query, products).items]
        assert run(backend, query) == expected, text


def test_typical_search_plan_is_driven_by_the_rtree(
    backend: SQLiteCatalogue, sqlite_path: Path
) -> None:
    fp = Footprint.from_wkt("POLYGON((10 45, 12 45, 12 47, 10 47, 10 45))")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    query = normalize_query(
        Query(
            filter=And(
                (
                    Spatial(SpatialOp.INTERSECTS, fp),
                    Range("sensing_start", low=when, high=when + timedelta(days=30)),
                    Compare("mission", CompareOp.EQ, "Sentinel-2"),
                    Range("cloud_cover", high=30.0),
                )
            ),
            sort=(SortKey("sensing_start", True),),
            limit=100,
        )
    )
    steps = backend.explain(query)
    assert any("products_rtree VIRTUAL TABLE INDEX" in s for s in steps), steps
    assert "SCAN p" not in steps, steps  # never a full scan of the products


def test_box_without_time_window_drives_only_when_few_candidates(
    backend: SQLiteCatalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    products = list(generate_products(400, seed=13))
    backend.upsert(products)
    europe = Footprint.from_wkt("POLYGON((-10 35, 30 35, 30 60, -10 60, -10 35))")
    query = normalize_query(
        Query(filter=Spatial(SpatialOp.INTERSECTS, europe), limit=10, count=CountMode.EXACT)
    )
    expected = reference_search(query, products)
    assert expected.total is not None and expected.total > 20
    assert backend.explain(query)[0].startswith("SEARCH p USING INTEGER PRIMARY KEY")
    monkeypatch.setattr(compiler, "RTREE_DRIVE_LIMIT", 5)
    steps = backend.explain(query)
    assert steps[0] == "SCAN p USING INDEX products_ingestion_date", steps  # the sort's index
    page = backend.search(query)
    assert [p.id for p in page.items] == [p.id for p in expected.items]
    assert page.total == expected.total and page.next == expected.next


def test_exact_count_uses_a_covering_index(backend: SQLiteCatalogue, sqlite_path: Path) -> None:
    for node in (
        Compare("collection", CompareOp.EQ, "SENTINEL-2"),
        Range("cloud_cover", high=50.0),
        Compare("mission", CompareOp.EQ, "sentinel-2", ignore_case=True),
    ):
        sql = compile_filter(normalize_query(Query(filter=node)).filter).sql
        with raw(sqlite_path) as conn:
            plan = " | ".join(
                r[3]
                for r in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT count(*) FROM products AS p WHERE {sql.text}",
                    sql.params,
                )
            )
        assert "COVERING INDEX" in plan, plan


def test_deepest_query_and_longest_sort_still_run(backend: SQLiteCatalogue) -> None:
    """SQLite's parser stack overflows near 30 nested parentheses; the compiler stays flat."""
    products = list(generate_products(120, seed=5))
    backend.upsert(products)
    deep: Node = Compare("size", CompareOp.GT, 1)
    for k in range(MAX_DEPTH - 1):
        leaf = Not(Compare("cloud_cover", CompareOp.LT, float(k)))
        deep = And((leaf, deep)) if k % 2 else Or((leaf, deep))
    sort = tuple(SortKey(f.name, i % 2 == 0) for i, f in enumerate(FIELDS) if f.sortable)
    query = normalize_query(Query(filter=deep, sort=sort, limit=9, count=CountMode.EXACT))
    expected = reference_search(query, products)
    page = backend.search(query)
    assert [p.id for p in page.items] == [p.id for p in expected.items]
    assert page.total == expected.total and page.next == expected.next is not None
    second = normalize_query(replace(query, after=page.next))
    assert [p.id for p in backend.search(second).items] == [
        p.id for p in reference_search(second, products).items
    ]


def test_hostile_queries_are_invalid_not_crashes(backend: SQLiteCatalogue) -> None:
    backend.upsert([make_product("P1")])
    with pytest.raises(InvalidQuery, match="not valid Unicode"):
        backend.search(normalize_query(Query(filter=Compare("name", CompareOp.EQ, "\udc80"))))
    huge = In("name", tuple(f"n{k}" for k in range(50_000)))
    assert backend.count(normalize_query(Query(filter=huge))) == 0
    assert run(backend, Query(filter=Like("name", "P\x00*"))) == []
    assert run(backend, Query(filter=Not(Like("name", "P\x00*")))) == ["P1"]


def test_page_window_reads_limit_plus_one_rows(backend: SQLiteCatalogue) -> None:
    products = list(generate_products(300, seed=11))
    backend.upsert(products)
    query = normalize_query(Query(limit=7, sort=(SortKey("cloud_cover"),), count=CountMode.EXACT))
    sql = SQLiteCatalogue._page_sql(query, compile_filter(query.filter))
    assert sql.params[-2:] == [8, 0]
    page = backend.search(query)
    expected = reference_search(query, products)
    assert [p.id for p in page.items] == [p.id for p in expected.items]
    assert page.next == expected.next and page.total == expected.total == 300
    assert backend.search(replace(query, limit=0)).items == []


def _sample_queries() -> list[Query]:
    when = datetime(2023, 6, 1, tzinfo=UTC)
    europe = Footprint.from_wkt("POLYGON((-10 35, 30 35, 30 60, -10 60, -10 35))")
    small = Footprint.from_wkt("POLYGON((5 44, 7 44, 7 46, 5 46, 5 44))")
    month = Range("sensing_start", low=when, high=when + timedelta(days=31))
    return [
        Query(filter=And((Spatial(SpatialOp.INTERSECTS, europe), month))),
        Query(filter=And((Spatial(SpatialOp.INTERSECTS, small), Range("cloud_cover", high=30.0)))),
        Query(filter=Not(Spatial(SpatialOp.WITHIN, europe)), sort=(SortKey("name"),)),
        Query(filter=Compare("platform_short_name", CompareOp.EQ, "SENTINEL-1")),
        Query(filter=Compare("platform_serial", CompareOp.NE, "A")),
        Query(filter=Not(Compare("platform_serial", CompareOp.EQ, "A"))),
        Query(filter=In("product_type", ("grd", "s2msi2a"), ignore_case=True)),
        Query(filter=Like("name", "s2?_msil1c_2023*", ignore_case=True)),
        Query(filter=Like("tile_id", "3*")),
        Query(filter=Like("mission", "*-5?", ignore_case=True)),
        Query(filter=Compare("attributes.qualityStatus", CompareOp.EQ, "degraded", True)),
        Query(filter=Not(Compare("attributes.sliceNumber", CompareOp.EQ, 1))),
        Query(filter=IsNull("attributes.qualityIndex"), sort=(SortKey("tile_id", True),)),
        Query(filter=Text("S2B msil2a*"), sort=(SortKey("cloud_cover", True),)),
        Query(filter=Or((Text("ocn"), Range("relative_orbit", low=100, low_inclusive=False)))),
        Query(sort=(SortKey("relative_orbit"), SortKey("cloud_cover", True))),
        Query(filter=Compare("orbit_direction", CompareOp.LT, "B")),
    ]


@pytest.mark.parametrize("query", _sample_queries(), ids=lambda q: type(q.filter).__name__)
def test_pages_totals_and_cursors_match_the_reference(
    backend: SQLiteCatalogue, query: Query
) -> None:
    products = list(generate_products(600, seed=21))
    backend.upsert(products)
    query = normalize_query(replace(query, limit=40, count=CountMode.EXACT))
    everything = reference_search(replace(query, limit=10_000), products).items
    got: list[Product] = []
    page = backend.search(query)
    assert page.total == len(everything)
    assert page.sort == query.sort
    got += page.items
    for _ in range(100):  # bounded walk over every page
        if page.next is None:
            break
        nxt = normalize_query(replace(query, after=Cursor.decode(page.next.encode())))
        expected = reference_search(nxt, products)
        page = backend.search(nxt)
        assert page.next == expected.next
        got += page.items
    assert [p.id for p in got] == [p.id for p in everything]
    offset = normalize_query(replace(query, offset=13, limit=17))
    assert [p.id for p in backend.search(offset).items] == [p.id for p in everything[13:30]]


def test_attribute_filters_compare_types_as_python_does(backend: SQLiteCatalogue) -> None:
    """Bool, int and float are all numbers; other type pairs never match (NE always does)."""
    when = datetime(2024, 1, 1, tzinfo=UTC)
    values: list[object] = [
        True, False, 0, 1, 2, 1.0, 1.5, "1", "x", when, when.replace(tzinfo=None),
        when + timedelta(days=1),
    ]  # fmt: skip
    products = [
        make_product(f"P{k}", attributes={"sliceNumber": v, "landCover": v, "creationDate": v})
        for k, v in enumerate(values)
    ] + [make_product("none")]
    backend.upsert(products)
    nodes: list[Node] = []
    for field, value in (
        ("attributes.sliceNumber", 1),
        ("attributes.landCover", 1.0),
        ("attributes.creationDate", when),
        ("attributes.other", "1"),
    ):
        for op in CompareOp:
            nodes += [Compare(field, op, value), Not(Compare(field, op, value))]
        nodes += [In(field, (value,)), Range(field, low=value), Not(Range(field, high=value))]
        nodes += [IsNull(field), Not(IsNull(field))]
    nodes += [
        Compare("attributes.qualityStatus", CompareOp.EQ, "X", ignore_case=True),
        In("attributes.creationDate", (when, when + timedelta(days=1))),
        Like("attributes.sliceNumber2", "1*"),
    ]
    for node in nodes:
        query = normalize_query(Query(filter=node, limit=100, count=CountMode.EXACT))
        expected = reference_search(query, products)
        page = backend.search(query)
        assert [p.name for p in page.items] == [p.name for p in expected.items], node
        assert page.total == expected.total, node


def test_world_sized_geometries_match_the_reference(backend: SQLiteCatalogue) -> None:
    products = [*generate_products(50, seed=2), make_product("bare", footprint=None)]
    backend.upsert(products)
    world = Footprint.from_wkt("POLYGON((-180 -90, 180 -90, 180 90, -180 90, -180 -90))")
    almost = Footprint.from_wkt("POLYGON((-180 -90, 180 -90, 180 89, -180 89, -180 -90))")
    for node in (
        Spatial(SpatialOp.INTERSECTS, world),
        Not(Spatial(SpatialOp.INTERSECTS, world)),
        Spatial(SpatialOp.WITHIN, world),
        Spatial(SpatialOp.INTERSECTS, almost),
        Not(Spatial(SpatialOp.WITHIN, almost)),
    ):
        query = normalize_query(Query(filter=node, limit=100, count=CountMode.EXACT))
        expected = reference_search(query, products)
        page = backend.search(query)
        assert [p.name for p in page.items] == [p.name for p in expected.items], node
        assert page.total == expected.total, node


def test_sort_index_driven_pages_match_the_reference(
    sqlite_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page queries matching many rows walk the sort key's index (threshold lowered here so a
    small catalogue takes that path): results stay those of the reference evaluator."""
    from eohub.catalogue.service import Catalogue
    from eohub.catalogue.sqlite import backend as backend_module
    from eohub.demo.records import generate_products
    from eohub.query import Compare, CompareOp, CountMode, Query, SortKey
    from eohub.query.evaluate import search as reference
    from eohub.query.normalize import normalize_query

    monkeypatch.setattr(backend_module, "SORT_DRIVE_MIN", 3)
    products = list(generate_products(120, seed=11))
    store = SQLiteCatalogue(sqlite_path)
    store.migrate()
    store.upsert(products)
    catalogue = Catalogue(store)
    filters = [
        Compare("mission", CompareOp.EQ, "Sentinel-2"),
        Compare("mission", CompareOp.EQ, "sentinel-1", ignore_case=True),
        Compare("cloud_cover", CompareOp.LE, 50.0),
    ]
    try:
        for node in filters:
            for key in ("sensing_start", "ingestion_date", "publication_date"):
                query = Query(
                    filter=node,
                    sort=(SortKey(key, descending=True),),
                    limit=7,
                    count=CountMode.EXACT,
                )
                after = None
                while True:
                    page_query = normalize_query(
                        Query(
                            filter=query.filter,
                            sort=query.sort,
                            limit=7,
                            after=after,
                            count=CountMode.EXACT,
                        )
                    )
                    ours = catalogue.search(page_query)
                    expected = reference(page_query, products)
                    assert [p.id for p in ours.items] == [p.id for p in expected.items]
                    assert ours.total == expected.total
                    if ours.next is None:
                        assert expected.next is None
                        break
                    after = ours.next
    finally:
        store.close()
