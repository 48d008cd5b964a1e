"""The OData 2 $filter parser and its translation into the query tree."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from eohub.errors import InvalidQuery
from eohub.protocols.dhus.odata_v1.dateparts import MAX_INTERVALS
from eohub.protocols.dhus.odata_v1.filter_parser import (
    Binary,
    Call,
    Literal,
    Member,
    Unary,
    parse_datetime_literal,
    parse_filter,
)
from eohub.protocols.dhus.odata_v1.filter_translate import parse
from eohub.query.tree import (
    MATCH_ALL,
    MATCH_NONE,
    And,
    Compare,
    CompareOp,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Range,
)

T2014 = datetime(2014, 12, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", Literal("int", 10)),
        ("10L", Literal("int", 10)),
        ("1.5", Literal("float", 1.5)),
        ("1.5d", Literal("float", 1.5)),
        ("2.5M", Literal("float", 2.5)),
        ("1E3f", Literal("float", 1000.0)),
        ("'it''s'", Literal("string", "it's")),
        ("datetime'2014-12-06T00:00:00'", Literal("datetime", T2014)),
        ("datetime'2014-12-06T00:00'", Literal("datetime", T2014)),
        ("datetime'2014-12-06T00:00:00.5'", Literal("datetime", T2014.replace(microsecond=500000))),
        ("datetimeoffset'2014-12-06T01:00:00+01:00'", Literal("datetime", T2014)),
        ("2014-12-06T00:00:00Z", Literal("datetime", T2014)),
        ("guid'0f8fad5b-d9cb-469f-a165-70867728950e'",
         Literal("guid", uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e"))),
        ("true", Literal("bool", True)),
        ("null", Literal("null", None)),
    ],
)  # fmt: skip
def test_literals(text: str, expected: Literal) -> None:
    assert parse_filter(text) == expected


def test_precedence_follows_odata_2() -> None:
    a, b, c = (Binary("eq", Member((n,)), Literal("int", 1)) for n in "abc")
    assert parse_filter("a eq 1 or b eq 1 and c eq 1") == Binary("or", a, Binary("and", b, c))
    assert parse_filter("(a eq 1 or b eq 1) and c eq 1") == Binary("and", Binary("or", a, b), c)
    assert parse_filter("not a eq 1") == Binary(
        "eq", Unary("not", Member(("a",))), Literal("int", 1)
    )
    assert parse_filter("ContentLength add 1 mul 2 gt 3") == Binary(
        "gt",
        Binary(
            "add", Member(("ContentLength",)), Binary("mul", Literal("int", 1), Literal("int", 2))
        ),
        Literal("int", 3),
    )
    assert parse_filter("substringof('x',Name)") == Call(
        "substringof", (Literal("string", "x"), Member(("Name",)))
    )
    assert parse_filter("ContentDate/Start lt -1") == Binary(
        "lt", Member(("ContentDate", "Start")), Unary("-", Literal("int", 1))
    )


def test_datetime_literals_are_utc() -> None:
    assert parse_datetime_literal("2020-01-01T00:00:00-02:30") == datetime(
        2020, 1, 1, 2, 30, tzinfo=UTC
    )
    value = parse_datetime_literal("2020-01-01T00:00:00.1234567")
    assert value.microsecond == 123456 and value.tzinfo is UTC
    assert parse_datetime_literal("2020-01-01T00:00:00+00:00").tzinfo == UTC
    assert UTC == UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Name eq 'x'", Compare("name", CompareOp.EQ, "x")),
        ("'x' eq Name", Compare("name", CompareOp.EQ, "x")),
        ("10 lt ContentLength", Compare("size", CompareOp.GT, 10)),
        ("IngestionDate gt datetime'2014-12-06T00:00:00'",
         Compare("ingestion_date", CompareOp.GT, T2014)),
        ("CreationDate le datetime'2014-12-06T00:00:00'",
         Compare("publication_date", CompareOp.LE, T2014)),
        ("Name eq null", IsNull("name")),
        ("Name ne null", Not(IsNull("name"))),
        ("Online", Compare("online", CompareOp.EQ, True)),
        ("Online eq false", Not(Compare("online", CompareOp.EQ, True))),
        ("not Online", Not(Compare("online", CompareOp.EQ, True))),
        ("substringof('E_W*',Name)", Like("name", "*E_W\\**")),
        ("contains(Name,'EW')", Like("name", "*EW*")),
        ("startswith(Name,'S1?')", Like("name", "S1\\?*")),
        ("endswith(Name,'.SAFE')", Like("name", "*.SAFE")),
        ("substringof('ew',tolower(Name)) eq true", Like("name", "*ew*", ignore_case=True)),
        ("substringof('EW',tolower(Name))", MATCH_NONE),
        ("substringof('ew',Name) eq false", Not(Like("name", "*ew*"))),
        ("toupper(Name) eq 'S1A'", Compare("name", CompareOp.EQ, "S1A", ignore_case=True)),
        ("tolower(Name) ne 'S1A'", Not(MATCH_NONE)),
        ("Id eq '0f8fad5b-d9cb-469f-a165-70867728950e'",
         Compare("id", CompareOp.EQ, uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e"))),
        ("Id eq 'not-a-uuid'", MATCH_NONE),
        ("Id ne 'not-a-uuid'", MATCH_ALL),
        ("OnDemand eq false", MATCH_ALL),
        ("OnDemand", MATCH_NONE),
        ("ContentLength gt 2 mul 1024", Compare("size", CompareOp.GT, 2048)),
        ("cloudcoverpercentage lt 20.5", Compare("cloud_cover", CompareOp.LT, 20.5)),
        ("productType eq 'GRD'", Compare("product_type", CompareOp.EQ, "GRD")),
        ("Attributes('Product type') eq 'GRD'", Compare("product_type", CompareOp.EQ, "GRD")),
        ("Attributes('origin') eq 'ESA'", Compare("attributes.origin", CompareOp.EQ, "ESA")),
        ("year(ContentDate/Start) eq 2020",
         Range("sensing_start", datetime(2020, 1, 1, tzinfo=UTC),
               datetime(2021, 1, 1, tzinfo=UTC), high_inclusive=False)),
        ("year(ContentDate/End) le 2008",
         Range("sensing_end", high=datetime(2009, 1, 1, tzinfo=UTC), high_inclusive=False)),
        ("year(ContentDate/End) gt 2008",
         Not(Range("sensing_end", high=datetime(2009, 1, 1, tzinfo=UTC), high_inclusive=False))),
        ("year(IngestionDate) lt 1", MATCH_NONE),
        ("year(IngestionDate) le 9999", MATCH_ALL),
        ("year(IngestionDate) eq 10000", MATCH_NONE),
        ("month(IngestionDate) ge 1", MATCH_ALL),
        ("day(IngestionDate) gt 31", MATCH_NONE),
    ],
)  # fmt: skip
def test_translation(text: str, expected: Node) -> None:
    assert parse(text) == expected


def test_and_or_not() -> None:
    assert parse("Name eq 'a' and (Online or ContentLength gt 5)") == And(
        (
            Compare("name", CompareOp.EQ, "a"),
            Or((Compare("online", CompareOp.EQ, True), Compare("size", CompareOp.GT, 5))),
        )
    )
    assert parse("not (Name eq 'a' or Name eq 'b')") == Not(
        Or((Compare("name", CompareOp.EQ, "a"), Compare("name", CompareOp.EQ, "b")))
    )


def _ranges(node: Node) -> list[tuple[datetime, datetime]]:
    items = node.items if isinstance(node, Or) else (node,)
    out = []
    for item in items:
        assert isinstance(item, Range) and not item.high_inclusive
        out.append((item.low, item.high))
    return out  # type: ignore[return-value]


def test_month_and_day_expand_over_the_catalogue_span() -> None:
    seen: list[tuple[str, Node]] = []

    def span(field: str, where: Node) -> tuple[datetime, datetime]:
        seen.append((field, where))
        return datetime(2020, 5, 17, tzinfo=UTC), datetime(2022, 2, 3, tzinfo=UTC)

    got = _ranges(parse("month(ContentDate/Start) eq 3", span=span))
    assert got == [(datetime(y, 3, 1, tzinfo=UTC), datetime(y, 4, 1, tzinfo=UTC)) for y in (2021,)]
    got = _ranges(parse("month(ContentDate/Start) ne 3", span=span))
    assert got[0] == (datetime(2020, 5, 1, tzinfo=UTC), datetime(2021, 3, 1, tzinfo=UTC))
    assert got[1] == (datetime(2021, 4, 1, tzinfo=UTC), datetime(2022, 3, 1, tzinfo=UTC))
    got = _ranges(parse("day(IngestionDate) eq 31", span=span))
    assert all(a.day == 31 and b - a == timedelta(days=1) for a, b in got)
    months = [(2020, m) for m in (5, 7, 8, 10, 12)] + [(2021, m) for m in (1, 3, 5, 7, 8, 10, 12)]
    assert [(a.year, a.month) for a, _ in got] == [*months, (2022, 1)]
    assert seen[0][0] == "sensing_start"


def test_day_31_is_counted_exactly() -> None:
    def span(field: str, where: Node) -> tuple[datetime, datetime]:
        return datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 12, 31, 12, tzinfo=UTC)

    got = _ranges(parse("day(IngestionDate) eq 31", span=span))
    assert [a.month for a, _ in got] == [1, 3, 5, 7, 8, 10, 12]


def test_other_conditions_narrow_the_span_and_too_many_periods_is_an_error() -> None:
    contexts: list[Node] = []

    def span(field: str, where: Node) -> tuple[datetime, datetime]:
        contexts.append(where)
        return datetime(2000, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)

    with pytest.raises(InvalidQuery, match=f"more than {MAX_INTERVALS}"):
        parse("hour(IngestionDate) eq 3", span=span)
    narrowed = parse(
        "Name eq 'a' and hour(IngestionDate) eq 3 and Online",
        span=lambda f, w: (datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 3, tzinfo=UTC)),
    )
    assert isinstance(narrowed, And) and len(narrowed.items) == 3
    assert len(_ranges(narrowed.items[1])) == 2  # 3 h on 1 and 2 January; 3 January ends at 0 h
    with pytest.raises(InvalidQuery):
        parse("Name eq 'a' and hour(IngestionDate) eq 3", span=span)
    assert contexts[-1] == Compare("name", CompareOp.EQ, "a")
    assert parse("hour(IngestionDate) eq 3", span=lambda f, w: None) == MATCH_NONE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty expression"),
        ("Name eq", "position 8"),
        ("Name eq 'x' and", "position 16"),
        ("Name eq 'x", "unterminated string starting at position 9"),
        ("Name # 'x'", "unexpected character '#' at position 6"),
        ("eq 'x'", "lacks an operand"),
        ("Name eq 'x' Name", "unexpected 'Name' at position 13"),
        ("f(", "position 3"),
        ("ContentDate/'x' eq 1", "after '/'"),
        ("binary'00' eq Name", "not supported"),
        ("-'x' eq Name", "unary minus"),
        ("Name eq 'a' add 1", "number literals only"),
        ("Attributes(1) eq 'x'", "Attributes('<name>')"),
        ("Attributes('') eq 'x'", "1 to 200"),
        ("tolower(Name) gt 'a'", "eq or ne only"),
        ("Name gt null", "only eq and ne"),
        ("Online eq 1", "true or false"),
        ("substringof('a')", "two arguments"),
        ("year(IngestionDate) eq 2020.5", "an integer"),
        ("startswith(ContentLength, 'a')", "text property"),
    ],
)
def test_errors_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidQuery) as err:
        parse(text)
    assert message in err.value.user_message
    assert err.value.user_message.startswith("invalid $filter")
