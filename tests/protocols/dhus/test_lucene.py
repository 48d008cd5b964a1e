"""DHuS ``q=`` -> query tree: syntax, keywords, values and errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from eohub.errors import InvalidGeometry, InvalidQuery
from eohub.model import Footprint
from eohub.protocols.dhus.keywords import KEYWORDS, SPECIAL
from eohub.protocols.dhus.lucene import parse_q
from eohub.query import (
    MATCH_ALL,
    MATCH_NONE,
    Compare,
    CompareOp,
    IsNull,
    Like,
    Not,
    Query,
    Range,
    Spatial,
    SpatialOp,
    Text,
    and_,
    normalize_query,
    or_,
)

NOW = datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)
EQ = CompareOp.EQ


def q(text: str) -> object:
    return parse_q(text, NOW)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_sentinelsat_query_becomes_the_expected_tree() -> None:
    text = (
        'beginPosition:["2021-01-01T00:00:00Z" TO "2021-01-31T00:00:00Z"] '
        'cloudcoverpercentage:["0" TO "30"] platformname:"Sentinel-2" '
        'footprint:"Intersects(POLYGON((10 50,11 50,11 51,10 51,10 50)))"'
    )
    assert q(text) == and_(
        Range("sensing_start", utc(2021, 1, 1), utc(2021, 1, 31)),
        Range("cloud_cover", 0.0, 30.0),
        Compare("mission", EQ, "Sentinel-2", ignore_case=True),
        Spatial(
            SpatialOp.INTERSECTS, Footprint.from_wkt("POLYGON((10 50,11 50,11 51,10 51,10 50))")
        ),
    )


def test_dhusget_query_with_explicit_and_and_extra_spaces() -> None:
    text = (
        " platformname:Sentinel-3 AND  instrumentshortname:SRAL AND  producttype:SR_1_SRA___ "
        "AND  beginPosition:[2023-03-01T00:00:00.000Z TO 2023-03-31T00:00:00.000Z]  "
    )
    assert q(text) == and_(
        Compare("mission", EQ, "Sentinel-3", ignore_case=True),
        Compare("instrument", EQ, "SRAL", ignore_case=True),
        Compare("product_type", EQ, "SR_1_SRA___", ignore_case=True),
        Range("sensing_start", utc(2023, 3, 1), utc(2023, 3, 31)),
    )


@pytest.mark.parametrize("text", ["*", "*:*", "", "   ", "contents:*"])
def test_match_everything(text: str) -> None:
    assert q(text) == MATCH_ALL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b", and_(Text("a"), Text("b"))),
        ("a AND b", and_(Text("a"), Text("b"))),
        ("a && b", and_(Text("a"), Text("b"))),
        ("a OR b", or_(Text("a"), Text("b"))),
        ("a || b", or_(Text("a"), Text("b"))),
        ("a OR b c", and_(or_(Text("a"), Text("b")), Text("c"))),
        ("NOT a", Not(Text("a"))),
        ("!a", Not(Text("a"))),
        ("-a b", and_(Not(Text("a")), Text("b"))),
        ("+a -b", and_(Text("a"), Not(Text("b")))),
        (
            "(a OR b) AND NOT (c OR d)",
            and_(or_(Text("a"), Text("b")), Not(or_(Text("c"), Text("d")))),
        ),
        ('"two words"', Text("two words")),
        ("S1A*", Text("S1A*")),
        ("*GRDH*", Like("name", "*GRDH*", ignore_case=True)),
        ("S1?_IW*", Like("name", "S1?_IW*", ignore_case=True)),
        ("contents:SLC", Text("SLC")),
        ("a^2", Text("a")),
    ],
)
def test_boolean_syntax(text: str, expected: object) -> None:
    assert q(text) == expected


def test_field_names_are_case_insensitive() -> None:
    assert (
        q("PlatformName:Sentinel-1") == q("platformname:Sentinel-1") == q("PLATFORMNAME:Sentinel-1")
    )
    assert q("beginPosition:[NOW-1DAY TO NOW]") == q("beginposition:[NOW-1DAY TO NOW]")


def test_text_keywords_ignore_case_string_keywords_do_not() -> None:
    assert q("producttype:grd") == Compare("product_type", EQ, "grd", ignore_case=True)
    assert q("filename:S2A_x.SAFE") == Compare("filename", EQ, "S2A_x.SAFE")
    assert q("tileid:32UNF") == Compare("tile_id", EQ, "32UNF")
    assert q("producttype:S2MSI*") == Like("product_type", "S2MSI*", ignore_case=True)
    assert q("identifier:S1A_IW_GRDH*") == Like("name", "S1A_IW_GRDH*")
    assert q("filename:S2?_MSIL1C_*") == Like("filename", "S2?_MSIL1C_*")


def test_list_keywords_match_one_token() -> None:
    node = q("polarisationmode:VH")
    assert node == or_(
        Compare("polarisation", EQ, "VH", ignore_case=True),
        Like("polarisation", "VH *", ignore_case=True),
        Like("polarisation", "* VH", ignore_case=True),
        Like("polarisation", "* VH *", ignore_case=True),
    )


def test_escapes_are_literal() -> None:
    assert q(r"identifier:S1A\*") == Compare("name", EQ, "S1A*")
    assert q(r"filename:a\*b*") == Like("filename", r"a\*b*")
    assert q(r"identifier:a\:b") == Compare("name", EQ, "a:b")


def test_ranges_inclusive_exclusive_open_and_quoted() -> None:
    assert q("orbitnumber:[16302 TO *]") == Range("orbit_number", 16302, None)
    assert q("orbitnumber:{1 TO 5}") == Range("orbit_number", 1, 5, False, False)
    assert q("orbitnumber:[1 TO 5}") == Range("orbit_number", 1, 5, True, False)
    assert q('cloudcoverpercentage:["0" TO "30"]') == Range("cloud_cover", 0.0, 30.0)
    assert q("cloudcoverpercentage:[-5 TO 10.5]") == Range("cloud_cover", -5.0, 10.5)
    assert q("cloudcoverpercentage:[* TO *]") == Not(IsNull("cloud_cover"))
    assert q("tileid:*") == Not(IsNull("tile_id"))


def test_date_math_uses_the_injected_clock() -> None:
    assert q("ingestiondate:[NOW-1DAY TO NOW]") == Range(
        "ingestion_date", NOW - timedelta(days=1), NOW
    )
    midnight = utc(2024, 5, 1)
    assert q("beginposition:[NOW/DAY-6HOURS TO NOW/DAY]") == Range(
        "sensing_start", midnight - timedelta(hours=6), midnight
    )
    assert q('beginPosition:["2016-12-01T00:00:00Z-1DAY" TO *]') == Range(
        "sensing_start", utc(2016, 11, 30), None
    )
    assert q("beginposition:2019-01-01T00:00:00.000Z") == Compare(
        "sensing_start", EQ, utc(2019, 1, 1)
    )


def test_numbers_and_uuids() -> None:
    assert q("orbitnumber:6097") == Compare("orbit_number", EQ, 6097)
    assert q("relativeorbitnumber:75.0") == Compare("relative_orbit", EQ, 75)
    pid = uuid.uuid4()
    assert q(f'uuid:"{pid}"') == Compare("id", EQ, pid)
    assert q("uuid:not-a-uuid") == MATCH_NONE  # a string field in DHuS: matches nothing
    assert q("(orbitnumber:1206 OR orbitnumber:16302)") == or_(
        Compare("orbit_number", EQ, 1206), Compare("orbit_number", EQ, 16302)
    )
    assert q("orbitnumber:(1206 OR 16302)") == q("(orbitnumber:1206 OR orbitnumber:16302)")


def test_attribute_keywords_carry_the_readers_types() -> None:
    assert q("missiondatatakeid:32376") == Compare("attributes.datatakeID", EQ, 32376)
    assert q("vegetationpercentage:[10 TO *]") == Range(
        "attributes.vegetationPercentage", 10.0, None
    )
    assert q("datatakesensingstart:[2020-01-01T00:00:00Z TO *]") == Range(
        "attributes.datatakeSensingStart", utc(2020, 1, 1), None
    )
    assert q("granuleidentifier:S2A_OPER*") == Like(
        "attributes.granuleIdentifier", "S2A_OPER*", ignore_case=True
    )
    assert q("processingmode:Offline") == Compare(
        "attributes.processingMode", EQ, "Offline", ignore_case=True
    )


def test_every_keyword_translates_and_normalises() -> None:
    samples = {"int": "7", "float": "7.5", "datetime": "NOW", "bool": "true",
               "uuid": str(uuid.uuid4()), "string": "x"}  # fmt: skip
    for name, keyword in KEYWORDS.items():
        node = q(f"{name}:{samples[keyword.spec.type.value]}")
        normalize_query(Query(filter=node))  # raises if a translation is ill-typed
        normalize_query(Query(filter=q(f"{name}:*")))


def test_special_keywords() -> None:
    assert q("format:SAFE") == or_(Like("filename", "*.SAFE"), Like("filename", "*.SEN3"))
    assert q("hv_order_tileid:MS20P") == Compare("tile_id", EQ, "20MPS")
    assert q("productlevel:L2") == Compare("processing_level", EQ, "Level-2", ignore_case=True)
    assert q("size:1234") == Compare("size", EQ, 1234)
    assert q('size:"10.65 KB"') == Range("size", 10901, 10910)
    assert q("size:/.+KB/") == Range("size", 1024, 1024**2 - 1)
    assert q('size:[1 TO "2 MB"]') == Range("size", 1, 2621439)
    assert q("gmlfootprint:*") == Not(IsNull("footprint"))
    for name in SPECIAL - {"cyclenumber", "gmlfootprint"}:
        normalize_query(Query(filter=q(f"{name}:*")))


def test_regex_made_of_literals_and_dots() -> None:
    assert q(r"filename:/S2A_.*\.SAFE/") == Like("filename", "S2A_*.SAFE")
    assert q("identifier:/S1._IW.+/") == Like("name", "S1?_IW?*")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("xxx:yyy", "xxx", "undefined field xxx"),
        ("platform:Sentinel-2", "platform", "undefined field platform"),
        ("orbitnumber:abc", "orbitnumber", "Invalid Number"),
        ("orbitnumber:S1*", "orbitnumber", "text fields only"),
        ("cloudcoverpercentage:nan", "cloudcoverpercentage", "Invalid Number"),
        ("beginposition:[yesterday TO NOW]", "date", "Invalid Date String"),
        ("beginposition:[NOW-1FORTNIGHT TO NOW]", "date", "unknown unit"),
        ("beginposition:[NOW-99999999YEARS TO NOW]", "date", "out of range"),
        ("identifier:abc~", "identifier", "fuzzy"),
        ("filename:/a(b|c)/", "filename", "not supported"),
        ("cyclenumber:3", "cyclenumber", "not searchable"),
        ("gmlfootprint:x", "gmlfootprint", "use footprint"),
        ("size:huge", "size", "invalid size"),
        ("format:SA*", "format", "wildcards"),
        ("[1 TO 2]", "contents", "needs a field name"),
    ],
)
def test_errors_name_what_is_wrong(text: str, field: str, words: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        q(text)
    assert info.value.field == field
    assert words in info.value.user_message


def test_unknown_field_lists_the_valid_keywords() -> None:
    with pytest.raises(InvalidQuery) as info:
        q("nope:1")
    assert "beginposition" in info.value.choices and "footprint" in info.value.choices
    assert info.value.user_message.startswith("undefined field nope (valid choices:")


@pytest.mark.parametrize(
    "text", ["õäöüÿ(", "a:(b", "a AND", "platformname:", ")", '"unclosed', "a:[1 TO", "[1 TO 2"]
)
def test_syntax_errors_quote_the_query(text: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        q(text)
    assert info.value.user_message.startswith(f"Cannot parse '{text}'")


@pytest.mark.parametrize(
    "text",
    [
        'footprint:"Intersects(POLYGON((0 0,1 1,0 1)))"',  # ring not closed
        'footprint:"Intersects(POLYGON((0 0,10 10,10 0,0 10,0 0)))"',  # self-intersecting
        'footprint:"Intersects(POLYGON((0 0,0 100,1 100,0 0)))"',  # latitude out of range
        'footprint:"Intersects(POLYGON((a b,c d)))"',
        'footprint:"Intersects(41.9, 212.5)"',
        'footprint:"Intersects(1 2 3)"',
        'footprint:"Intersects(ENVELOPE(1, 2, 3))"',
        'footprint:"Intersects(ENVELOPE(1, 2, 3, 4))"',  # maxY < minY
        'footprint:"Intersects POLYGON((0 0,1 0,1 1,0 0))"',
        'footprint:"Overlaps(POINT(1 2))"',
        'footprint:"Intersects(POINT(1 2)) garbage"',
        'footprint:"Intersects(GEOMETRYCOLLECTION EMPTY)"',
    ],
)
def test_bad_geometries_are_invalid_geometry(text: str) -> None:
    with pytest.raises(InvalidGeometry):
        q(text)


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE products; --",
        "identifier:\"x' OR '1'='1\"",
        'filename:"a\\"b"',
        "platformname:Sentinel-2) OR (1=1",
        "\x00\x01\x02",
        "ä" * 500,
        "(" * 2000 + "a" + ")" * 2000,
        "a OR " * 400 + "a",
    ],
)
def test_hostile_strings_give_a_tree_or_a_clear_error(text: str) -> None:
    try:
        node = q(text)
    except InvalidQuery as exc:
        assert exc.user_message
    else:
        try:
            normalize_query(Query(filter=node))
        except InvalidQuery as exc:
            assert "nested too deeply" in exc.user_message
