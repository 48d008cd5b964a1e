"""Random query trees give the same pages on SQLite, on PostGIS and from the reference evaluator.

One catalogue (generated records plus hand-made edge cases) is loaded once per module into a
real SQLite file and a real PostGIS database; hypothesis then draws query trees over the field
registry with values taken near the stored ones, random sorts, limits, offsets and cursors.
SQLite is asked twice: through its in-memory search index (where the index can answer) and
through SQL alone (a second catalogue on the same file with the index turned off).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogue_samples import edge_products
from conftest import ADMIN_DSN as _ADMIN_DSN
from conftest import _admin, _with_db
from eohub.catalogue.service import Catalogue
from eohub.demo import generate_products
from eohub.model import Footprint, Product
from eohub.query import (
    FIELDS,
    And,
    Compare,
    CompareOp,
    CountMode,
    Field,
    FieldType,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Page,
    Query,
    Range,
    SortKey,
    Spatial,
    SpatialOp,
    Text,
    normalize_query,
)
from eohub.query.evaluate import search as reference
from eohub.query.text import product_tokens

pytestmark = pytest.mark.postgis

PRODUCTS: list[Product] = list(generate_products(240, seed=2024)) + edge_products()
ATTRIBUTES = [
    "attributes.qualityStatus",
    "attributes.origin",
    "attributes.qualityIndex",
    "attributes.granuleIdentifier",
    "attributes.processingMode",
    "attributes.batch",
    "attributes.missing",
]
FIELD_LIST: list[Field] = [f for f in FIELDS if f.type is not FieldType.GEOMETRY] + [
    FIELDS.get(name) for name in ATTRIBUTES
]
SORTABLE = [f.name for f in FIELDS if f.sortable]
ORDERED = {FieldType.STRING, FieldType.INT, FieldType.FLOAT, FieldType.DATETIME, FieldType.UUID}


def _values(field: Field) -> list[Any]:
    """Distinct stored values of a field (strings only for attribute fields)."""
    found = {field.get(p) for p in PRODUCTS} - {None}
    if field.is_attribute:
        found = {v for v in found if isinstance(v, str)} or {"x"}
    return sorted(found, key=repr)


VALUES = {f.name: _values(f) for f in FIELD_LIST}
TOKENS = sorted({t for p in PRODUCTS for t in product_tokens(p)})


@pytest.fixture(scope="module")
def backends(
    tmp_path_factory: pytest.TempPathFactory, postgis_template: str
) -> Iterator[tuple[Catalogue, Catalogue, Catalogue]]:
    """The catalogue loaded once into SQLite and once into PostGIS; the SQLite file is read
    with and without the in-memory index."""
    from eohub.catalogue.postgis import PostgisCatalogue
    from eohub.catalogue.sqlite import SQLiteCatalogue

    path = Path(tmp_path_factory.mktemp("props")) / "catalogue.sqlite"
    sqlite = SQLiteCatalogue(path)
    sql_only = SQLiteCatalogue(path, memory_index=False)
    name = f"eohub_props_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgis_template}"')
    postgis = PostgisCatalogue(_with_db(_ADMIN_DSN, name))
    try:
        for backend in (sqlite, postgis):
            backend.migrate()
            assert backend.upsert(PRODUCTS) == len(PRODUCTS)
        assert sqlite.prepare_search_index(wait_s=60) == "ready"
        yield Catalogue(sqlite), Catalogue(sql_only), Catalogue(postgis)
        assert sqlite._memory is not None and sqlite._memory.answered > 0  # it was exercised
    finally:
        sqlite.close()
        sql_only.close()
        postgis.close()
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- strategies ---------------------------------------------------------------------------------


@st.composite
def near_value(draw: st.DrawFn, field: Field) -> Any:
    """A stored value of ``field``, or one just beside it."""
    value = draw(st.sampled_from(VALUES[field.name]))
    nudge = draw(st.integers(-2, 2))
    if field.type is FieldType.INT and not isinstance(value, bool):
        return value + nudge * draw(st.sampled_from([1, 7, 1000]))
    if field.type is FieldType.FLOAT:
        return value + nudge * draw(st.sampled_from([0.0, 1e-6, 0.5, 10.0]))
    if field.type is FieldType.DATETIME:
        step = draw(st.sampled_from([timedelta(microseconds=1), timedelta(hours=6)]))
        return value + nudge * step
    if field.type is FieldType.STRING and nudge:
        cut = draw(st.integers(0, len(value)))
        return draw(st.sampled_from([value[:cut], value.lower(), value + "0", value.upper()]))
    return value


@st.composite
def wildcard(draw: st.DrawFn, field: Field) -> str:
    """A wildcard pattern derived from a stored value."""
    value: str = draw(st.sampled_from(VALUES[field.name]))
    chars = list(value)
    for _ in range(draw(st.integers(0, 3))):
        if chars:
            k = draw(st.integers(0, len(chars) - 1))
            chars[k] = draw(st.sampled_from(["?", "*", "\\" + chars[k], chars[k]]))
    pattern = "".join(chars)
    if draw(st.booleans()):
        pattern = pattern[: draw(st.integers(0, len(pattern)))] + "*"
    return pattern


@st.composite
def leaf(draw: st.DrawFn) -> Node:
    field = draw(st.sampled_from(FIELD_LIST))
    kind = draw(st.sampled_from(["compare", "in", "range", "like", "null", "text", "spatial"]))
    text_field = field.type is FieldType.STRING
    if kind == "compare" or (kind == "like" and not text_field):
        ops = list(CompareOp) if field.type in ORDERED else [CompareOp.EQ, CompareOp.NE]
        ignore = text_field and draw(st.booleans())
        return Compare(field.name, draw(st.sampled_from(ops)), draw(near_value(field)), ignore)
    if kind == "in":
        values = tuple(draw(st.lists(near_value(field), min_size=1, max_size=4)))
        return In(field.name, values, text_field and draw(st.booleans()))
    if kind == "range" and field.type in ORDERED:
        low, high = draw(near_value(field)), draw(near_value(field))
        if draw(st.booleans()):
            low, high = min(low, high), max(low, high)
        return Range(
            field.name,
            low=None if draw(st.integers(0, 4)) == 0 else low,
            high=None if draw(st.integers(0, 4)) == 0 else high,
            low_inclusive=draw(st.booleans()),
            high_inclusive=draw(st.booleans()),
        )
    if kind == "like":
        return Like(field.name, draw(wildcard(field)), draw(st.booleans()))
    if kind == "text":
        words = draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=3))
        text = " ".join(words)
        if draw(st.booleans()):
            text = text[: max(1, len(text) - draw(st.integers(0, 3)))] + "*"
        return Text(draw(st.sampled_from([text, text.upper(), text.replace(" ", "_")])))
    if kind == "spatial":
        return Spatial(draw(st.sampled_from(list(SpatialOp))), draw(query_geometry()))
    return IsNull(field.name)


@st.composite
def query_geometry(draw: st.DrawFn) -> Footprint:
    """A box around a stored footprint, near the antimeridian or a pole, or a point."""
    where = draw(st.sampled_from(["product", "antimeridian", "pole", "point"]))
    if where == "point":
        product = draw(st.sampled_from([p for p in PRODUCTS if p.footprint is not None]))
        point = product.footprint.search.representative_point()  # type: ignore[union-attr]
        return Footprint.from_wkt(point.wkt)
    if where == "antimeridian":
        x, y = draw(st.sampled_from([179.5, -179.5, 180.0, 178.0])), draw(st.floats(-70, 70))
    elif where == "pole":
        x, y = draw(st.floats(-180, 180)), draw(st.sampled_from([85.0, -85.0, 88.0]))
    else:
        product = draw(st.sampled_from([p for p in PRODUCTS if p.footprint is not None]))
        cx, cy = product.footprint.search.centroid.coords[0]  # type: ignore[union-attr]
        x, y = cx + draw(st.floats(-2, 2)), cy + draw(st.floats(-2, 2))
    w, h = draw(st.sampled_from([0.1, 1.0, 5.0, 30.0])), draw(st.sampled_from([0.1, 1.0, 5.0]))
    x0, x1 = max(-180.0, x - w), min(180.0, x + w)
    y0, y1 = max(-90.0, y - h), min(90.0, y + h)
    return Footprint.from_wkt(f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))")


trees = st.recursive(
    leaf(),
    lambda children: st.one_of(
        st.lists(children, min_size=0, max_size=4).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=0, max_size=4).map(lambda xs: Or(tuple(xs))),
        children.map(Not),
    ),
    max_leaves=8,
)

sorts = st.lists(
    st.builds(SortKey, st.sampled_from(SORTABLE), st.booleans()), min_size=0, max_size=3
).map(tuple)


@st.composite
def queries(draw: st.DrawFn) -> Query:
    return Query(
        filter=draw(trees),
        sort=draw(sorts),
        limit=draw(st.sampled_from([0, 1, 3, 10, 50, 400])),
        offset=draw(st.sampled_from([0, 0, 0, 1, 5, 100])),
        count=draw(st.sampled_from(list(CountMode))),
    )


# -- the property -------------------------------------------------------------------------------


def _view(page: Page[Product]) -> tuple[list[str], int | None, Any]:
    return [p.name for p in page.items], page.total, page.next


@settings(
    max_examples=int(os.environ.get("EOHUB_PROPERTY_EXAMPLES", "150")),  # raise it to hunt
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(query=queries(), pages=st.integers(1, 3))
def test_backends_agree_with_the_reference(
    backends: tuple[Catalogue, Catalogue, Catalogue], query: Query, pages: int
) -> None:
    sqlite, sql_only, postgis = backends
    normal = normalize_query(query)
    for _ in range(pages):  # follow the keyset cursor for a few pages
        expected = _view(reference(normal, PRODUCTS))
        assert _view(sqlite.search(normal)) == expected, ("sqlite", normal)
        assert _view(sql_only.search(normal)) == expected, ("sqlite without index", normal)
        assert _view(postgis.search(normal)) == expected, ("postgis", normal)
        if query.count is CountMode.EXACT:
            counts = (sqlite.count(normal), sql_only.count(normal), postgis.count(normal))
            assert counts == (expected[1],) * 3
        nxt = reference(normal, PRODUCTS).next
        if nxt is None:
            break
        normal = normalize_query(
            Query(normal.filter, normal.sort, normal.limit, after=nxt, count=normal.count)
        )


def test_the_generated_catalogue_gives_non_trivial_results() -> None:
    """Guard against strategies that only ever match nothing or everything."""
    sample = Query(filter=Compare("collection", CompareOp.EQ, "SENTINEL-2"), limit=1000)
    hits = len(reference(normalize_query(sample), PRODUCTS).items)
    assert 50 < hits < len(PRODUCTS) - 50
    assert isinstance(VALUES["sensing_start"][0], datetime) and len(TOKENS) > 200
