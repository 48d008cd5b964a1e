"""normalize_query: every field, value, sort key, limit and cursor is checked before a backend."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from eohub.errors import InvalidQuery
from eohub.model import Footprint
from eohub.query import (
    FIELDS,
    MAX_LIMIT,
    And,
    Compare,
    CompareOp,
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
from eohub.query.normalize import MAX_DEPTH, MAX_OFFSET, normalize_filter

A = Compare("platform", CompareOp.EQ, "Sentinel-2A")
B = Compare("cloud_cover", CompareOp.LT, 10.0)
C = IsNull("tile_id")
D = Like("name", "S1*")


def _error(query: Query) -> InvalidQuery:
    with pytest.raises(InvalidQuery) as info:
        normalize_query(query)
    return info.value


def test_unknown_field_is_named_with_the_valid_choices() -> None:
    err = _error(Query(filter=Compare("cloudiness", CompareOp.LT, 5.0)))
    assert err.field == "cloudiness"
    assert "cloudiness" in err.user_message
    assert "cloud_cover" in err.choices and "sensing_start" in err.choices
    assert "valid choices" in err.user_message and "cloud_cover" in err.user_message


@pytest.mark.parametrize(
    "node",
    [
        In("nope", ("a",)),
        Range("nope", low=1),
        Like("nope", "a*"),
        IsNull("nope"),
        Not(Compare("nope", CompareOp.EQ, 1)),
        And((A, Or((B, Compare("nope", CompareOp.EQ, 1))))),
        Compare("attributes.", CompareOp.EQ, "x"),
    ],
)
def test_unknown_field_anywhere_in_the_tree(node: object) -> None:
    err = _error(Query(filter=node))  # type: ignore[arg-type]
    assert err.field in ("nope", "attributes.")


def test_any_attribute_is_a_string_field() -> None:
    q = normalize_query(Query(filter=Compare("attributes.origin", CompareOp.EQ, "ESA")))
    assert q.filter == Compare("attributes.origin", CompareOp.EQ, "ESA")
    err = _error(Query(filter=Compare("attributes.productComposition", CompareOp.EQ, 5)))
    assert err.field == "attributes.productComposition" and "string" in err.user_message


@pytest.mark.parametrize(
    ("field", "value", "expected_type"),
    [
        ("cloud_cover", "abc", "float"),
        ("cloud_cover", True, "float"),
        ("cloud_cover", float("nan"), "float"),
        ("cloud_cover", float("inf"), "float"),
        ("orbit_number", 1.5, "int"),
        ("orbit_number", "12", "int"),
        ("orbit_number", False, "int"),
        ("sensing_start", "2024-01-01T00:00:00Z", "datetime"),
        ("sensing_start", 1_700_000_000, "datetime"),
        ("id", "not-a-uuid", "uuid"),
        ("id", 12, "uuid"),
        ("online", "true", "bool"),
        ("online", 1, "bool"),
        ("name", 5, "string"),
        ("name", None, "string"),
    ],
)
def test_wrong_value_types_are_refused(field: str, value: object, expected_type: str) -> None:
    err = _error(Query(filter=Compare(field, CompareOp.EQ, value)))  # type: ignore[arg-type]
    assert err.field == field
    assert f"expects a {expected_type} value" in err.user_message


def test_values_are_coerced_to_the_field_type() -> None:
    pid = uuid.uuid4()
    naive = datetime(2024, 1, 2, 3, 4, 5, 6)
    paris = datetime(2024, 1, 2, 4, 4, 5, 6, tzinfo=timezone(timedelta(hours=1)))
    q = normalize_query(
        Query(
            filter=And(
                (
                    Compare("id", CompareOp.EQ, str(pid)),
                    Compare("orbit_number", CompareOp.GE, 2.0),
                    Compare("cloud_cover", CompareOp.LE, 30),
                    Range("sensing_start", low=naive, high=paris),
                    In("relative_orbit", (1.0, 2)),
                )
            )
        )
    )
    assert isinstance(q.filter, And)
    ident, orbit, cloud, window, rel = q.filter.items
    assert ident == Compare("id", CompareOp.EQ, pid)
    assert orbit == Compare("orbit_number", CompareOp.GE, 2) and type(orbit.value) is int
    assert cloud == Compare("cloud_cover", CompareOp.LE, 30.0) and type(cloud.value) is float
    assert isinstance(window, Range)
    assert window.low == datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert window.high == datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert window.high.tzinfo is UTC  # type: ignore[union-attr]
    assert rel == In("relative_orbit", (1, 2))


@pytest.mark.parametrize(
    ("node", "words"),
    [
        (Compare("online", CompareOp.LT, True), "operator 'lt' does not apply"),
        (Compare("footprint", CompareOp.EQ, "POINT(0 0)"), "spatial predicates"),
        (Range("online", low=False), "a range does not apply"),
        (Range("footprint", low=1), "a range does not apply"),
        (Like("orbit_number", "1*"), "wildcards apply to text fields only"),
        (Like("sensing_start", "2024*"), "wildcards apply to text fields only"),
        (Compare("orbit_number", CompareOp.EQ, 1, ignore_case=True), "case-insensitive"),
        (In("cloud_cover", (1.0,), ignore_case=True), "case-insensitive"),
        (In("platform", ()), "empty list of values"),
        (Text("x" * 1001), "too long"),
    ],
)
def test_operators_that_do_not_apply_are_refused(node: object, words: str) -> None:
    err = _error(Query(filter=node))  # type: ignore[arg-type]
    assert words in err.user_message


def test_negation_normal_form() -> None:
    assert normalize_filter(Not(And((A, B)))) == Or((Not(A), Not(B)))
    assert normalize_filter(Not(Or((A, B)))) == And((Not(A), Not(B)))
    assert normalize_filter(Not(Not(A))) == A
    assert normalize_filter(Not(Not(Not(A)))) == Not(A)
    assert normalize_filter(Not(And((A, Not(Or((B, C))))))) == Or((Not(A), B, C))


def test_and_or_are_flattened_and_unwrapped() -> None:
    assert normalize_filter(And((A,))) == A
    assert normalize_filter(Or((And((A,)),))) == A
    assert normalize_filter(And((A, And((B, And((C, D))))))) == And((A, B, C, D))
    assert normalize_filter(Or((A, Or((B, C))))) == Or((A, B, C))
    assert normalize_filter(And((A, Or((B, C))))) == And((A, Or((B, C))))
    assert normalize_filter(And(())) == And(())
    assert normalize_filter(Or(())) == Or(())
    assert normalize_filter(Not(And(()))) == Or(())


def test_spatial_and_text_pass_through() -> None:
    box = Footprint.from_wkt("POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))")
    node = And((Spatial(SpatialOp.INTERSECTS, box), Text("sentinel")))
    assert normalize_filter(node) == node


def test_sort_gets_the_id_tie_break() -> None:
    q = normalize_query(Query(sort=(SortKey("cloud_cover", descending=True),)))
    assert q.sort == (SortKey("cloud_cover", True), SortKey("id"))
    q = normalize_query(Query(sort=()))
    assert q.sort == (SortKey("id"),)
    q = normalize_query(Query(sort=(SortKey("size"), SortKey("size", True), SortKey("name"))))
    assert q.sort == (SortKey("size"), SortKey("name"), SortKey("id"))
    q = normalize_query(Query(sort=(SortKey("id", True), SortKey("name"))))
    assert q.sort == (SortKey("id", True),)


@pytest.mark.parametrize("field", ["instrument", "footprint", "online", "nope", "attributes.x"])
def test_bad_sort_fields_are_refused(field: str) -> None:
    err = _error(Query(sort=(SortKey(field),)))
    assert err.field == field
    if field != "nope":
        assert "cannot sort" in err.user_message
        assert set(err.choices) == {f.name for f in FIELDS if f.sortable}
        assert "sensing_start" in err.user_message


@pytest.mark.parametrize("limit", [-1, MAX_LIMIT + 1, 10**100, True, 1.5, "10", None])
def test_absurd_limits_are_refused(limit: object) -> None:
    err = _error(Query(limit=limit))  # type: ignore[arg-type]
    assert err.field == "limit"


@pytest.mark.parametrize("offset", [-1, MAX_OFFSET + 1, 10**30, "5", 2.0, None, True])
def test_absurd_offsets_are_refused(offset: object) -> None:
    err = _error(Query(offset=offset))  # type: ignore[arg-type]
    assert err.field == "offset"


def test_limits_at_the_bounds_are_accepted() -> None:
    assert normalize_query(Query(limit=0)).limit == 0
    assert normalize_query(Query(limit=MAX_LIMIT)).limit == MAX_LIMIT
    assert normalize_query(Query(offset=MAX_OFFSET)).offset == MAX_OFFSET


def _cursor(values: tuple[object, ...], sort: tuple[SortKey, ...] | None = None) -> Cursor:
    keys = sort or (SortKey("sensing_start", True), SortKey("id"))
    return Cursor(keys, values)  # type: ignore[arg-type]


def test_cursor_values_are_checked_and_coerced() -> None:
    pid = uuid.uuid4()
    when = datetime(2024, 1, 1, tzinfo=UTC)
    sort = (SortKey("sensing_start", True),)
    decoded = Cursor.decode(_cursor((when, str(pid))).encode())
    q = normalize_query(Query(sort=sort, after=decoded))
    assert q.after == Cursor(q.sort, (when, pid))
    assert normalize_query(Query(sort=sort, after=_cursor((None, pid)))).after is not None


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (
            Query(sort=(SortKey("size"),), after=_cursor((datetime.now(UTC), uuid.uuid4()))),
            "does not belong to this sort order",
        ),
        (
            Query(
                sort=(SortKey("sensing_start"),),
                after=_cursor((datetime.now(UTC), uuid.uuid4())),
            ),
            "does not belong to this sort order",
        ),
        (
            Query(
                sort=(SortKey("sensing_start", True),), after=_cursor(("yesterday", uuid.uuid4()))
            ),
            "invalid page token",
        ),
        (
            Query(sort=(SortKey("sensing_start", True),), after=_cursor((datetime.now(UTC), "x"))),
            "invalid page token",
        ),
        (
            Query(sort=(SortKey("sensing_start", True),), after=_cursor((datetime.now(UTC),))),
            "invalid page token",
        ),
        (
            Query(
                sort=(SortKey("sensing_start", True),),
                offset=10,
                after=_cursor((datetime.now(UTC), uuid.uuid4())),
            ),
            "either an offset or a cursor",
        ),
    ],
)
def test_cursor_mismatch_is_refused(query: Query, words: str) -> None:
    err = _error(query)
    assert err.field == "cursor"
    assert words in err.user_message


def _nested(depth: int) -> Node:
    node: Node = A
    for k in range(depth):
        node = And((node, B)) if k % 2 else Or((node, C))
    return node


def test_nesting_is_bounded() -> None:
    assert normalize_query(Query(filter=_nested(MAX_DEPTH))).filter == normalize_filter(
        _nested(MAX_DEPTH)
    )
    for node in (_nested(MAX_DEPTH + 1), _nested(3000)):
        err = _error(Query(filter=node))
        assert err.field == "filter" and "nested too deeply" in err.user_message
    chain: Node = A
    for _ in range(5000):
        chain = Not(And((chain,)))
    assert "nested too deeply" in _error(Query(filter=chain)).user_message
    # Redundant nesting that normalises away is fine.
    assert normalize_query(Query(filter=And((And((And((A,)),)),)))).filter == A
