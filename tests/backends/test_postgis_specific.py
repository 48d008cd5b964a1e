"""PostGIS-only behaviour of the catalogue: migrations, indexes, bound parameters, exact round
trip, PostgreSQL's traps (NUL, collation, bigint) and connection failures.

The shared contract suite checks the query semantics on every backend; these tests check what
only the PostgreSQL backend can get wrong, against the real local server.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
import shapely

from catalogue_samples import ANTIMERIDIAN_RING, T0, bare_product, edge_products, make_product
from eohub.catalogue.postgis import PostgisCatalogue, writer
from eohub.catalogue.postgis import backend as backend_module
from eohub.catalogue.postgis.schema import load_migrations
from eohub.catalogue.postgis.statements import count_statement, page_statement
from eohub.demo.records import generate_products
from eohub.errors import CatalogueUnavailable, Conflict, HubError
from eohub.model import Checksum, Footprint, Product
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
from eohub.query.evaluate import matches
from eohub.query.evaluate import search as reference_search

pytestmark = pytest.mark.postgis

BOX = Footprint.from_wkt("POLYGON((9 44, 12 44, 12 47, 9 47, 9 44))")


@pytest.fixture
def backend(postgres_dsn: str) -> Iterator[PostgisCatalogue]:
    catalogue = PostgisCatalogue(postgres_dsn, pool_size=4)
    catalogue.migrate()
    yield catalogue
    catalogue.close()


def _sql(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def _grid(n: int, start: datetime = T0) -> list[Product]:
    """``n`` products on a grid of small squares, one hour apart, half with cloud cover."""
    out = []
    for k in range(n):
        lon, lat = -20.0 + (k % 40), 30.0 + (k // 40) % 30
        ring = [(lon, lat), (lon + 0.9, lat), (lon + 0.9, lat + 0.9), (lon, lat + 0.9)]
        out.append(
            make_product(
                f"GRID_{k:05d}",
                start=start + timedelta(hours=k),
                footprint=Footprint.from_rings([ring]),
                cloud_cover=None if k % 2 else float(k % 100),
                platform="Sentinel-2B" if k % 3 else "Sentinel-2A",
            )
        )
    return out


def _assert_same(backend: PostgisCatalogue, products: list[Product], query: Query) -> None:
    """The backend's page equals the reference evaluator's (items, order, total, next)."""
    q = normalize_query(query)
    got, want = backend.search(q), reference_search(q, products)
    assert [p.name for p in got.items] == [p.name for p in want.items], q.filter
    assert got.total == want.total, q.filter
    assert got.next == want.next, q.filter
    assert backend.count(q) == sum(matches(q.filter, p) for p in products), q.filter


# -- migrations ----------------------------------------------------------------------------------


def test_migrate_is_idempotent_and_recorded(backend: PostgisCatalogue, postgres_dsn: str) -> None:
    before = _sql(postgres_dsn, "SELECT version, checksum, applied_at FROM schema_migrations")
    backend.migrate()
    backend.migrate()
    after = _sql(postgres_dsn, "SELECT version, checksum, applied_at FROM schema_migrations")
    assert after == before
    assert [row[0] for row in sorted(after)] == [m.version for m in load_migrations()]
    assert [row[1] for row in sorted(after)] == [m.checksum for m in load_migrations()]
    _sql(postgres_dsn, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(HubError, match="0001_initial differs from the one applied"):
        backend.migrate()


def test_workers_starting_at_once_migrate_once(postgres_dsn: str) -> None:
    workers = [PostgisCatalogue(postgres_dsn, pool_size=1) for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def start(catalogue: PostgisCatalogue) -> None:
        barrier.wait(timeout=30)
        try:
            catalogue.migrate()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert failures == []
        rows = _sql(postgres_dsn, "SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [m.version for m in load_migrations()]
        assert workers[0].upsert([make_product("AFTER_MIGRATION")]) == 1
    finally:
        for w in workers:
            w.close()


def test_missing_postgis_is_explained(postgres_dsn: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    role, dbname = f"eohub_t_role_{suffix}", f"eohub_t_nogis_{suffix}"
    admin = psycopg.conninfo.make_conninfo(postgres_dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'x'").format(
                psycopg.sql.Identifier(role)
            )
        )
        conn.execute(
            psycopg.sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                psycopg.sql.Identifier(dbname), psycopg.sql.Identifier(role)
            )
        )
    try:
        dsn = psycopg.conninfo.make_conninfo(postgres_dsn, dbname=dbname, user=role, password="x")
        catalogue = PostgisCatalogue(dsn, connect_timeout_s=2)
        with pytest.raises(HubError) as info:
            catalogue.migrate()
        assert "PostGIS extension is missing" in info.value.user_message
        catalogue.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(dbname)
                )
            )
            conn.execute(
                psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(psycopg.sql.Identifier(role))
            )


# -- round trip ----------------------------------------------------------------------------------


def _full_product() -> Product:
    cest = timezone(timedelta(hours=2))
    return make_product(
        "S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230822T021825",
        start=datetime(2023, 8, 21, 22, 19, 41, 24999, tzinfo=UTC),
        footprint=Footprint.from_rings([ANTIMERIDIAN_RING]),
        checksums=(
            Checksum("MD5", "0123456789ABCDEF0123456789ABCDEF", datetime(2024, 1, 2, 3, 4, 5, 6)),
            Checksum("BLAKE3", "ab" * 32, datetime(2024, 1, 2, 3, 4, 5, 999999, tzinfo=cest)),
            Checksum("SHA256", "cd" * 32),
        ),
        online=False,
        size=2**62 + 7,
        polarisation="VV VH",
        swath="IW1 IW2",
        timeliness="NRT",
        product_class="S",
        attributes={
            "text": "Ünïcode 名前 'quoted' \\ back",
            "empty": "",
            "count": 77,
            "huge": 2**80 + 1,
            "negative": -3,
            "ratio": 0.1 + 0.2,
            "tiny": 5e-324,
            "infinite": math.inf,
            "flag": True,
            "off": False,
            "when": datetime(2023, 8, 22, 2, 18, 25, 1, tzinfo=cest),
            "naive": datetime(2023, 8, 22, 2, 18, 25, 999999),
        },
    )


def test_every_field_round_trips_exactly(backend: PostgisCatalogue) -> None:
    full, bare = _full_product(), bare_product("BARE")
    assert backend.upsert([full, bare]) == 2
    got = backend.get(full.id)
    assert got == full
    assert got is not None and got.footprint is not None and full.footprint is not None
    assert got.footprint.original.equals_exact(full.footprint.original, 0.0)
    assert got.footprint.search.equals_exact(full.footprint.search, 0.0)
    assert got.footprint.search.geom_type == "MultiPolygon"  # split at the antimeridian
    for name, value in full.attributes.items():
        assert type(got.attributes[name]) is type(value), name
        assert got.attributes[name] == value, name
    assert got.attributes["naive"].tzinfo is None  # type: ignore[union-attr]
    assert got.checksums == full.checksums
    assert [c.computed_at for c in got.checksums] == [c.computed_at for c in full.checksums]
    for stamp in (got.sensing.start, got.ingestion_date, got.attributes["when"]):
        assert stamp.utcoffset() == timedelta(0)  # type: ignore[union-attr]
    assert got.sensing.start.microsecond == 24999
    assert backend.get(bare.id) == bare
    assert backend.find_by_name(full.name) == full
    assert backend.get_many([bare.id, uuid.UUID(int=5), full.id]) == [bare, full]
    assert backend.find_by_name("nope\x00") is None
    assert backend.find_by_name("nope\ud800") is None


def test_upsert_replaces_attributes_and_delete_leaves_no_orphans(
    backend: PostgisCatalogue, postgres_dsn: str
) -> None:
    first = make_product("REPLACED", attributes={"a": "1", "b": 2})
    backend.upsert([first])
    second = first.evolve(attributes={"c": True}, cloud_cover=None, size=1)
    assert backend.upsert([second]) == 1
    assert backend.get(first.id) == second
    count_attrs = "SELECT count(*) FROM product_attributes WHERE product_id = %s"
    assert _sql(postgres_dsn, count_attrs, (first.id,)) == [(1,)]
    assert backend.delete(first.id) is not None
    assert backend.delete(first.id) is None
    assert _sql(postgres_dsn, count_attrs, (first.id,)) == [(0,)]


def test_later_duplicate_wins_and_chunks_stream(
    backend: PostgisCatalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "CHUNK", 3)
    products = _grid(10)
    stream = (p for p in [*products, products[4].evolve(size=99), products[4].evolve(size=5)])
    assert backend.upsert(stream) == 11  # the repeated Id falls in two chunks
    assert backend.count(normalize_query(Query())) == 10
    stored = backend.get(products[4].id)
    assert stored is not None and stored.size == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"platform": "Sentinel\x002A"}, "NUL"),
        ({"attributes": {"bad": [1, 2]}}, "unsupported type list"),
        ({"attributes": {"bad\x00name": "x"}}, "NUL"),
        ({"attributes": {"bad": "\ud800"}}, "surrogate"),
        ({"cloud_cover": math.nan}, "NaN"),
        ({"size": 2**64}, "64-bit"),
    ],
)
def test_unstorable_product_is_refused_and_nothing_is_written(
    backend: PostgisCatalogue, change: dict[str, Any], message: str
) -> None:
    good, bad = make_product("GOOD"), make_product("BAD", **change)
    with pytest.raises(ValueError, match=message) as info:
        backend.upsert([good, bad])
    assert "BAD" in str(info.value)
    assert backend.get(good.id) is None
    assert backend.count(normalize_query(Query())) == 0


def test_same_name_under_another_id_is_a_conflict(backend: PostgisCatalogue) -> None:
    original = make_product("TAKEN", size=1)
    backend.upsert([original])
    with pytest.raises(Conflict) as info:
        backend.upsert([make_product("OTHER"), original.evolve(id=uuid.uuid4(), size=2)])
    assert "name already exists under another Id" in info.value.user_message
    assert "TAKEN" in info.value.user_message
    assert backend.get(original.id) == original
    assert backend.find_by_name("OTHER") is None


def test_concurrent_upserts_of_the_same_products(backend: PostgisCatalogue) -> None:
    products = _grid(60)
    failures: list[BaseException] = []

    def load(k: int) -> None:
        try:
            for _ in range(3):
                backend.upsert(products[k:] + products[:k])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=load, args=(k * 15,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert backend.count(normalize_query(Query())) == 60
    assert backend.get(products[7].id) == products[7]


# -- indexes and SQL -----------------------------------------------------------------------------


def _plan(dsn: str, statement: Any) -> str:
    sql_text, params = statement
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute(psycopg.sql.SQL("EXPLAIN ") + sql_text, params).fetchall()
    return "\n".join(str(r[0]) for r in rows)


def test_spatial_search_and_count_use_the_gist_index(
    backend: PostgisCatalogue, postgres_dsn: str
) -> None:
    backend.upsert(_grid(400))
    backend.optimize()
    query = normalize_query(
        Query(
            filter=And((Spatial(SpatialOp.INTERSECTS, BOX), Range("cloud_cover", high=30.0))),
            sort=(SortKey("sensing_start", descending=True),),
            limit=5,
        )
    )
    assert "products_footprint_gist" in _plan(postgres_dsn, page_statement(query))
    assert "products_footprint_gist" in _plan(postgres_dsn, count_statement(query))


def test_keyset_pages_match_the_reference_and_use_an_index_range(
    backend: PostgisCatalogue, postgres_dsn: str
) -> None:
    products = _grid(300)
    backend.upsert(products)
    backend.optimize()
    for sort in [
        (SortKey("sensing_start", descending=True),),
        (SortKey("ingestion_date"), SortKey("id")),
        (SortKey("cloud_cover", descending=True), SortKey("name")),
    ]:
        query = normalize_query(Query(sort=sort, limit=37))
        seen: list[str] = []
        while True:
            got, want = backend.search(query), reference_search(query, products)
            assert [p.name for p in got.items] == [p.name for p in want.items]
            assert got.next == want.next
            seen += [p.name for p in got.items]
            if got.next is None:
                break
            query = normalize_query(Query(sort=sort, limit=37, after=got.next))
        assert sorted(seen) == sorted(p.name for p in products)
    first = normalize_query(Query(sort=(SortKey("sensing_start", descending=True),), limit=37))
    cursor = backend.search(first).next
    later = normalize_query(Query(sort=first.sort, limit=37, after=cursor))
    plan = _plan(postgres_dsn, page_statement(later))
    assert "Index Cond: (sensing_start <=" in plan, plan


def _space_time_filters(products: list[Product]) -> list[Node]:
    """Place + time + platform filters built around stored products (bounds hit exactly)."""
    out: list[Node] = []
    for k, p in enumerate(products[:: max(1, len(products) // 12)]):
        assert p.footprint is not None
        x, y = p.footprint.search.representative_point().coords[0]
        area = Footprint.from_geometry(shapely.box(x - 3, y - 3, x + 3, y + 3))
        start = p.sensing.start
        op = [SpatialOp.INTERSECTS, SpatialOp.CONTAINS, SpatialOp.WITHIN][k % 3]
        where = Spatial(op, area)
        out += [
            And((where, Range("sensing_start", low=start, high=start + timedelta(days=3)))),
            And((where, Range("sensing_start", low=start, low_inclusive=False))),
            And(
                (
                    where,
                    Range("sensing_start", high=start),
                    Compare("platform", CompareOp.EQ, p.platform),
                )
            ),
            And((where, Compare("sensing_start", CompareOp.EQ, start))),
            And(
                (
                    where,
                    Compare("mission", CompareOp.EQ, p.mission),
                    Range("cloud_cover", high=50.0),
                )
            ),
            And(
                (
                    where,
                    In("platform", (p.platform, "Sentinel-5P")),
                    Compare("sensing_start", CompareOp.LT, start),
                )
            ),
            And(
                (
                    where,
                    Compare("platform", CompareOp.EQ, p.platform),
                    Compare("platform", CompareOp.EQ, "Sentinel-9Z"),
                )
            ),
            And((Spatial(op, BOX), where, Compare("sensing_start", CompareOp.GE, start))),
        ]
    return out


def test_space_time_prefilter_keeps_every_match(
    backend: PostgisCatalogue, postgres_dsn: str
) -> None:
    products = list(generate_products(400, seed=11, days=2))
    platforms = [
        "Sentinel-2A",
        "Sentinel-2B",
        "Sentinel-1A",
        "Sentinel-3B",
        "Sentinel-5P",
        "Sentinel",
    ]
    for k in range(60):  # a dense cluster over BOX, one minute apart, some of them very wide
        lon = 9.5 + (k % 5) * 0.4
        ring = [(lon, 44.5), (lon + (30 if k % 7 == 0 else 1), 44.5), (lon, 46.0)]
        products.append(
            make_product(
                f"CLUSTER_{k:02d}",
                platform=platforms[k % len(platforms)],
                start=T0 + timedelta(minutes=k),
                footprint=Footprint.from_rings([ring]),
            )
        )
    for k in (0, 13, 30, 59):
        products.append(make_product(f"CLUSTER_SAME_TIME_{k}", start=T0 + timedelta(minutes=k)))
    backend.upsert(products)
    backend.optimize()
    filters = _space_time_filters(products[:400]) + _space_time_filters(products[400:])
    for node in filters:
        _assert_same(backend, products, Query(filter=node, limit=7, count=CountMode.EXACT))
    query = normalize_query(Query(filter=filters[0], limit=5))
    assert "products_space_time_gist" in _plan(postgres_dsn, page_statement(query))


HOSTILE = "x'); DROP TABLE products; --"


def test_values_only_travel_as_bound_parameters(
    backend: PostgisCatalogue, postgres_dsn: str
) -> None:
    products = [make_product("SAFE", polarisation=HOSTILE, attributes={"note": HOSTILE})]
    backend.upsert(products)
    hostile_filters: list[Node] = [
        Compare("name", CompareOp.EQ, HOSTILE),
        Compare("polarisation", CompareOp.EQ, HOSTILE, ignore_case=True),
        In("tile_id", (HOSTILE, "32TPR")),
        Like("polarisation", HOSTILE + "*"),
        Text(HOSTILE),
        Compare("attributes.note", CompareOp.EQ, HOSTILE),
        Not(Compare("attributes.note", CompareOp.NE, HOSTILE)),
    ]
    with psycopg.connect(postgres_dsn) as conn:
        for node in hostile_filters:
            query = normalize_query(Query(filter=node, count=CountMode.EXACT))
            for statement, params in (page_statement(query), count_statement(query)):
                text = statement.as_string(conn)
                assert "DROP" not in text and "x')" not in text, text
                assert any(HOSTILE in str(p) or "drop" in str(p) for p in params)
            _assert_same(backend, products, query)
    tables = _sql(postgres_dsn, "SELECT count(*) FROM products")
    assert tables == [(1,)]


# -- PostgreSQL traps ----------------------------------------------------------------------------

BIG = 2**63 + 10
TRAP_FILTERS: list[Node] = [
    # NUL cannot be stored: every comparison is rewritten exactly.
    Compare("name", CompareOp.EQ, "EDGE_SAME_00\x00"),
    Compare("name", CompareOp.NE, "EDGE_SAME_00\x00"),
    Compare("name", CompareOp.LT, "EDGE_SAME_00\x00"),
    Compare("name", CompareOp.LE, "EDGE_SAME_00\x00"),
    Compare("name", CompareOp.GT, "EDGE_SAME_00\x00"),
    Not(Compare("tile_id", CompareOp.GE, "01KAB\x00")),
    Range("name", low="EDGE_TIE_1\x00", high="EDGE_TIE_3\x00x"),
    In("name", ("EDGE_SAME_01", "EDGE_SAME_02\x00")),
    Like("name", "EDGE*\x00*"),
    Compare("attributes.origin", CompareOp.NE, "ESA\x00"),
    # Lone surrogates cannot be stored either: U+D800..DFFF sit between U+D7FF and U+E000.
    Compare("name", CompareOp.LT, "EDGE_UNICODE_\ud800"),
    Compare("name", CompareOp.GE, "EDGE_UNICODE_\udfff"),
    Compare("name", CompareOp.GT, "EDGE_TEXT_7_\ud800"),
    Compare("orbit_direction", CompareOp.NE, "ASC\udc00"),
    In("name", ("EDGE_SAME_03", "\ud800")),
    Like("name", "*\ud800*"),
    Compare("attributes.origin", CompareOp.LE, "\ud800", ignore_case=True),
    # Case folding is ASCII only, comparison by code point.
    Compare("attributes.origin", CompareOp.EQ, "ésa", ignore_case=True),
    Compare("attributes.origin", CompareOp.EQ, "esa", ignore_case=True),
    Compare("name", CompareOp.GT, "EDGE_UNICODE_Ü", ignore_case=True),
    Compare("polarisation", CompareOp.LT, "a_b"),
    In("swath", ("äbc_äbc", "A*B"), ignore_case=True),
    Like("polarisation", "a%b"),
    Like("polarisation", "a_b"),
    Like("polarisation", "a\\\\b"),
    Like("polarisation", "A?B", ignore_case=True),
    Like("swath", "ÄBC*", ignore_case=True),
    Like("attributes.origin", "e\\*s\\?a*", ignore_case=True),
    # Integers beyond bigint.
    Compare("orbit_number", CompareOp.LT, BIG),
    Compare("size", CompareOp.GT, -BIG),
    Not(Compare("orbit_number", CompareOp.EQ, BIG)),
    In("orbit_number", (BIG, 43001)),
    # Two-valued logic over NULL columns, attributes and footprints.
    Not(Compare("cloud_cover", CompareOp.GT, 20.0)),
    Not(In("tile_id", ("01KAB",))),
    Not(Like("orbit_direction", "DESC*")),
    Not(Range("orbit_number", low=43001)),
    Not(Spatial(SpatialOp.INTERSECTS, BOX)),
    Not(IsNull("footprint")),
    Not(Compare("attributes.qualityIndex", CompareOp.NE, "77")),
    Compare("attributes.qualityIndex", CompareOp.NE, "77"),
    Or((IsNull("attributes.origin"), Compare("attributes.landCover", CompareOp.LT, 1.0))),
    # Typed attributes: ints, floats and bools compare as numbers; NaN is never ordered.
    Compare("attributes.landCover", CompareOp.EQ, 1.0),
    Compare("attributes.landCover", CompareOp.GT, 0.5),
    Compare("attributes.landCover", CompareOp.NE, 0.0),
    Not(Compare("attributes.landCover", CompareOp.GE, 12.25)),
    Compare("attributes.sliceNumber", CompareOp.LT, 1),
    In("attributes.sliceNumber", (0, 7)),
    Range("attributes.nbFire", low=3, high=4, high_inclusive=False),
    Compare("attributes.creationDate", CompareOp.GE, T0),
    Compare("attributes.creationDate", CompareOp.NE, T0),
    # Text with a prefix token.
    Text("edge text a*"),
    Text("SENTINEL-2 s2msi2*"),
    Not(Text("nominal")),
]


TYPED = [
    {"landCover": True, "sliceNumber": False, "nbFire": 3.5, "creationDate": T0},
    {"landCover": math.nan, "sliceNumber": 7, "nbFire": 4, "creationDate": T0.replace(tzinfo=None)},
    {"landCover": 1, "sliceNumber": 0.0, "nbFire": "3.5", "creationDate": T0 + timedelta(1)},
    {"landCover": -math.inf, "sliceNumber": "0", "nbFire": True, "creationDate": "today"},
]


def test_postgresql_traps_match_the_reference(backend: PostgisCatalogue) -> None:
    products = edge_products()
    products += [make_product(f"TYPED_{k}", attributes=a) for k, a in enumerate(TYPED)]
    backend.upsert(products)
    sort = (SortKey("name", descending=True), SortKey("orbit_number"))
    for node in TRAP_FILTERS:
        _assert_same(backend, products, Query(filter=node, limit=8, count=CountMode.EXACT))
        _assert_same(backend, products, Query(filter=node, sort=sort, limit=5, offset=2))


@pytest.mark.parametrize("cap", [2, 2000])
def test_text_prefixes_through_the_vocabulary(
    backend: PostgisCatalogue, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    monkeypatch.setattr(backend_module, "MAX_EXPANSION", cap)  # 2: most prefixes fall back
    products = edge_products() + _grid(30)
    backend.upsert(products)
    stored = {r[0] for r in _sql(postgres_dsn, "SELECT token FROM text_vocabulary")}
    assert {"grid", "00007", "s2msi2a", "nominal"} <= stored
    for text in ["grid 0001*", "g*", "s2msi*", "edge text a*", "zzz*", "00*", "名*", "ünï*"]:
        for node in (Text(text), Not(Text(text)), Or((Text(text), IsNull("tile_id")))):
            _assert_same(backend, products, Query(filter=node, limit=9, count=CountMode.EXACT))


def test_sort_is_by_code_point(backend: PostgisCatalogue) -> None:
    products = edge_products()
    backend.upsert(products)
    for field in ("name", "tile_id"):
        for descending in (False, True):
            sort = (SortKey(field, descending), SortKey("size"))
            _assert_same(backend, products, Query(sort=sort, limit=len(products)))


def test_cursor_values_that_cannot_be_stored(backend: PostgisCatalogue) -> None:
    products = edge_products()
    backend.upsert(products)
    for sort, values in [
        ((SortKey("name"),), ("EDGE_SAME_05\x00", uuid.UUID(int=0))),
        ((SortKey("name", True),), ("EDGE_UNICODE_\ud800", uuid.UUID(int=0))),
        ((SortKey("orbit_number", True),), (BIG, uuid.UUID(int=0))),
        ((SortKey("tile_id"), SortKey("size", True)), ("01KAB", None, uuid.UUID(int=1))),
    ]:
        full = normalize_query(Query(sort=sort))
        _assert_same(
            backend, products, Query(sort=full.sort, limit=6, after=Cursor(full.sort, values))
        )


# -- failures ------------------------------------------------------------------------------------


def test_unreachable_server_is_catalogue_unavailable() -> None:
    catalogue = PostgisCatalogue("postgresql://postgres@127.0.0.1:1/eohub", connect_timeout_s=1)
    with pytest.raises(CatalogueUnavailable) as info:
        catalogue.search(normalize_query(Query()))
    assert "cannot reach PostgreSQL at 127.0.0.1:1/eohub" in info.value.user_message
    assert "refused" in info.value.detail.lower()
    assert not isinstance(info.value.__cause__, psycopg.Error)
    catalogue.close()


def test_missing_database_and_bad_dsn_are_catalogue_unavailable(postgres_dsn: str) -> None:
    missing = psycopg.conninfo.make_conninfo(postgres_dsn, dbname="eohub_no_such_database")
    with pytest.raises(CatalogueUnavailable, match="does not exist"):
        PostgisCatalogue(missing, connect_timeout_s=2).migrate()
    with pytest.raises(CatalogueUnavailable, match="invalid PostgreSQL DSN"):
        PostgisCatalogue("host=127.0.0.1 port")


def test_connections_killed_by_the_server_are_replaced(
    backend: PostgisCatalogue, postgres_dsn: str
) -> None:
    backend.upsert(_grid(5))
    assert backend.count(normalize_query(Query())) == 5
    dbname = psycopg.conninfo.conninfo_to_dict(postgres_dsn)["dbname"]
    _sql(
        postgres_dsn,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        (dbname,),
    )
    assert backend.count(normalize_query(Query())) == 5
    assert len(backend.search(normalize_query(Query(limit=3))).items) == 3


def test_closed_backend_refuses_work(backend: PostgisCatalogue) -> None:
    backend.close()
    with pytest.raises(CatalogueUnavailable, match="closed"):
        backend.get(uuid.UUID(int=1))
