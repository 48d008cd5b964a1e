"""OpenSearch request parameters, the feed layout and its Atom and JSON renderings."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest
import shapely

from catalogue_samples import make_product
from eohub.demo.records import generate_products
from eohub.errors import InvalidQuery
from eohub.model import Footprint
from eohub.protocols.dhus import opensearch_atom, opensearch_json
from eohub.protocols.dhus.entry import build_entries, build_entry, footprint_gml
from eohub.protocols.dhus.opensearch import (
    DhusHttpError,
    build_feed,
    decode_params,
    paging_links,
    parse_request,
    parse_sort,
    subtitle,
)
from eohub.query import SortKey

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
BASE = "https://hub.example/apihub/"
PRODUCTS = list(generate_products(40, seed=3))


def request(**params: str) -> object:
    return parse_request({"q": "*", **params}, NOW)


def test_defaults() -> None:
    r = parse_request({"q": "*"}, NOW)
    assert (r.rows, r.start, r.json, r.format) == (10, 0, False, None)
    assert r.query.sort == (SortKey("ingestion_date", descending=True),)
    assert r.query.limit == 10 and r.query.offset == 0


def test_rows_start_format_and_orderby() -> None:
    r = parse_request({"q": "*", "rows": "100", "start": "200", "format": "JSON",
                       "orderby": "beginposition asc, ingestiondate DESC"}, NOW)  # fmt: skip
    assert (r.rows, r.start, r.json, r.format) == (100, 200, True, "JSON")
    assert r.query.sort == (SortKey("sensing_start"), SortKey("ingestion_date", descending=True))
    assert parse_request({"q": "*", "rows": "ten", "start": "x"}, NOW).rows == 10
    assert parse_request({"q": "*", "orderby": ""}, NOW).query.sort == parse_sort(None)
    assert parse_request({"q": "*", "rows": "0"}, NOW).query.limit == 0


def test_request_errors() -> None:
    with pytest.raises(DhusHttpError) as http:
        parse_request({"q": "*", "rows": "101"}, NOW)
    assert http.value.status == 400
    assert str(http.value) == "Parameter `rows` exceeds the maximum value (100) in search request"
    with pytest.raises(DhusHttpError) as missing:
        parse_request({}, NOW)
    assert missing.value.status == 400
    with pytest.raises(DhusHttpError) as long:
        parse_request({"q": "a_-.*:,?+~! " * 400}, NOW)
    assert long.value.status == 500 and "Request Entity Too Large" in (long.value.cause or "")
    bad = [{"rows": "-1"}, {"start": "-5"}, {"orderby": "nope asc"},
           {"orderby": "beginposition sideways"}, {"orderby": "footprint asc"}]  # fmt: skip
    for params in bad:
        with pytest.raises(InvalidQuery):
            parse_request({"q": "*", **params}, NOW)


def test_decode_params_utf8_then_latin1() -> None:
    assert decode_params(b"q=%F5%E4%F6%FC%FF%28&rows=0") == {"q": "õäöüÿ(", "rows": "0"}
    assert decode_params(b"q=caf%C3%A9+x&q=second") == {"q": "café x"}
    raw = (
        b"q=%20platformname:Sentinel-3%20AND%20beginPosition:[2023-03-01T00:00:00.000Z%20TO%20NOW]"
    )
    assert (
        decode_params(raw)["q"]
        == " platformname:Sentinel-3 AND beginPosition:[2023-03-01T00:00:00.000Z TO NOW]"
    )
    assert decode_params(b"&&a&=1&b=") == {"a": "", "": "1", "b": ""}


@pytest.mark.parametrize(
    ("total", "start", "rows", "text"),
    [
        (0, 0, 100, "Displaying 0 results."),
        (5, 0, 100, "Displaying 5 results."),
        (20, 0, 5, "Displaying 0 to 4 of 20 total results."),
        (20, 15, 5, "Displaying 15 to 19 of 20 total results."),
        (20, 17, 5, "Displaying 17 to 19 of 20 total results."),
        (10000, 0, 0, "Displaying 0 to -1 of 10000 total results."),
    ],
)
def test_subtitle_wordings(total: int, start: int, rows: int, text: str) -> None:
    assert subtitle(total, start, rows, 0.012) == f"{text} Request done in 0.012 seconds."


def _rels(total: int, start: int, rows: int) -> list[tuple[str, str]]:
    r = parse_request({"q": "x", "start": str(start), "rows": str(rows)}, NOW)
    return [(rel, re.sub(r".*&start=([^&]*)&.*", r"\1", href)) for rel, _, href in
            paging_links(BASE, r, total)]  # type: ignore[arg-type]  # fmt: skip


def test_paging_links_follow_dhus() -> None:
    assert _rels(0, 0, 100) == [("self", "0"), ("first", "0"), ("last", "-1"),
                                ("search", "opensearch_description.xml")]  # fmt: skip
    assert _rels(20, 0, 5)[2:4] == [("next", "5"), ("last", "19")]
    assert _rels(20, 10, 5)[2:4] == [("previous", "5"), ("next", "15")]
    assert _rels(20, 5, 5)[2] == ("next", "10")  # start == rows: no previous (DHuS quirk)
    assert _rels(20, 7, 5)[2:4] == [("previous", "5"), ("next", "15")]
    assert ("next", "NaN") in _rels(10000, 0, 0)
    assert ("last", "9999") in _rels(10000, 0, 0)


def test_links_echo_format_but_not_orderby() -> None:
    r = parse_request({"q": 'a "b"', "format": "json", "orderby": "beginposition asc"}, NOW)
    links = paging_links(BASE, r, 3)
    assert links[0] == ("self", "application/json",
                        f'{BASE}search?q=a "b"&start=0&rows=10&format=json')  # fmt: skip
    xml = parse_request({"q": "*"}, NOW)
    assert paging_links(BASE, xml, 3)[0][1] == "application/xml"


def _feed(products: list[object], **params: str) -> object:
    r = parse_request({"q": "*", **params}, NOW)
    return build_feed(
        r, products, len(products), base=BASE, seconds=0.0, updated="2024-01-02T03:04:05.000Z"
    )  # type: ignore[arg-type]


def _feed_paged(products: list[object], total: int, **params: str) -> object:
    r = parse_request({"q": "*", **params}, NOW)
    return build_feed(r, products, total, base=BASE, seconds=0.0, updated="u")  # type: ignore[arg-type]


def test_json_auto_arrays() -> None:
    none = opensearch_json.feed_document(_feed([], format="json"))["feed"]  # type: ignore[arg-type]
    assert "entry" not in none and none["opensearch:totalResults"] == "0"
    one = opensearch_json.feed_document(_feed(PRODUCTS[:1], format="json"))["feed"]  # type: ignore[arg-type]
    assert isinstance(one["entry"], dict)
    many = opensearch_json.feed_document(_feed(PRODUCTS[:3], format="json"))["feed"]  # type: ignore[arg-type]
    assert isinstance(many["entry"], list) and len(many["entry"]) == 3
    for entry in many["entry"]:
        for group in ("date", "int", "double", "str"):
            value = entry.get(group)
            if isinstance(value, list):
                assert len(value) > 1
    assert list(none)[:3] == ["xmlns:opensearch", "xmlns", "title"]


def _strings_only(value: object) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _strings_only(v)
    elif isinstance(value, list):
        for v in value:
            _strings_only(v)
    else:
        assert isinstance(value, str), value


def test_json_has_strings_everywhere() -> None:
    body = json.loads(opensearch_json.render_feed(_feed(PRODUCTS, format="json")))  # type: ignore[arg-type]
    _strings_only(body)


def test_single_double_is_an_object() -> None:
    p = make_product("S2A_MSIL1C_X", attributes={}, cloud_cover=3.5)
    entry = opensearch_json.feed_document(_feed([p], format="json"))["feed"]["entry"]  # type: ignore[arg-type]
    assert entry["double"] == {"name": "cloudcoverpercentage", "content": "3.5"}


def test_entry_content() -> None:
    p = next(x for x in PRODUCTS if x.polarisation)
    entry = build_entry(p, BASE)
    assert entry.links == (
        (None, f"{BASE}odata/v1/Products('{p.id}')/$value"),
        ("alternative", f"{BASE}odata/v1/Products('{p.id}')/"),
        ("icon", f"{BASE}odata/v1/Products('{p.id}')/Products('Quicklook')/$value"),
    )
    strs = dict(dict(entry.groups)["str"])
    assert strs["uuid"] == str(p.id) and strs["identifier"] == p.name
    assert strs["footprint"].startswith(("POLYGON ((", "MULTIPOLYGON ((("))
    assert strs["gmlfootprint"].startswith("<gml:")
    assert re.fullmatch(r"\d+\.\d\d [KMGT]?B", strs["size"])
    assert entry.summary == (f"Date: {strs and dict(dict(entry.groups)['date'])['beginposition']}, "
                             f"Instrument: {p.instrument}, Mode: {p.polarisation}, "
                             f"Satellite: {p.mission}, Size: {strs['size']}")  # fmt: skip
    s2 = next(x for x in PRODUCTS if x.collection == "SENTINEL-2")
    assert ", Mode:" not in build_entry(s2, BASE).summary


def test_gml_swaps_every_coordinate_pair() -> None:
    wkt = "POLYGON ((-10 -5, 1e-05 -5, 1e-05 2.125, -10 -5), (-2 -4, -1 -4, -1 -3.5, -2 -4))"
    fp = Footprint.from_wkt(wkt)
    gml = footprint_gml(fp, wkt)
    assert gml is not None
    assert re.findall(r"<gml:coordinates>([^<]*)</gml:coordinates>", gml) == [
        "-5,-10 -5,1e-05 2.125,1e-05 -5,-10",
        "-4,-2 -4,-1 -3.5,-1 -4,-2",
    ]
    z = "POLYGON Z ((0 0 7, 10 0 7, 10 10 7, 0 0 7))"  # not plain 2D: as it always was written
    solid = Footprint(original=shapely.from_wkt(z), search=shapely.from_wkt(z))
    assert "<gml:coordinates>0 7,0 10 7,0 10 7,10 0 7,0</gml:coordinates>" in (
        footprint_gml(solid, z) or ""
    )


def test_entries_of_a_page_equal_entries_one_by_one() -> None:
    odd = [
        make_product("S2A_NONE", footprint=None),
        make_product("S2A_TYPES", attributes={"generationDate": datetime(2020, 1, 1, 5),
                                              "sliceNumber": True, "datatakeID": 2.5,
                                              "vegetationPercentage": 7, "nbFire": "7"}),
        make_product("S2A_ACROSS", footprint=Footprint.from_wkt(
            "POLYGON((170 0, 190 0, 190 5, 170 5, 170 0))", strict=False)),
    ]  # fmt: skip
    products = [*PRODUCTS, *odd]
    assert build_entries(products, BASE) == [build_entry(p, BASE) for p in products]
    typed = dict(build_entry(odd[1], BASE).groups)
    assert ("generationdate", "2020-01-01T05:00:00Z") in typed["date"]
    assert ("missiondatatakeid", "2.5") not in typed["int"]  # a float is no int
    assert ("vegetationpercentage", "7.0") in typed["double"]
    assert ("nbfire", "7") not in typed["int"]  # text is no int
    assert dict(typed["str"])["footprint"].startswith("POLYGON ((")
    assert "footprint" not in dict(dict(build_entry(odd[0], BASE).groups)["str"])
    assert dict(dict(build_entry(odd[2], BASE).groups)["str"])["footprint"].startswith(
        "MULTIPOLYGON"
    )


def test_atom_is_well_formed_and_line_oriented() -> None:
    text = opensearch_atom.render_feed(_feed(PRODUCTS[:5])).decode()  # type: ignore[arg-type]
    root = ElementTree.fromstring(text)
    ns = {"a": "http://www.w3.org/2005/Atom", "os": "http://a9.com/-/spec/opensearch/1.1/"}
    assert root.find("os:totalResults", ns).text == "5"  # type: ignore[union-attr]
    assert len(root.findall("a:entry", ns)) == 5
    lines = text.splitlines()
    ids = [ln.split(">")[1].split("<")[0] for ln in lines if "<id>" in ln][1:]  # as dhusget does
    assert ids == [str(p.id) for p in PRODUCTS[:5]]
    alternatives = [ln.split('"')[3] for ln in lines if '<link rel="alternative" href=' in ln]
    assert alternatives == [f"{BASE}odata/v1/Products('{p.id}')/" for p in PRODUCTS[:5]]
    paged = opensearch_atom.render_feed(_feed_paged(PRODUCTS[:2], 5, rows="2")).decode()  # type: ignore[arg-type]
    sub = next(ln for ln in paged.splitlines() if "<subtitle>" in ln)
    text = "     1\t" + sub.split(">")[1].split("<")[0]  # as `cut ... | cat -n`
    assert text.split(" ")[10] == "5"  # dhusget: `cut -f11 -d' '` is the total


def test_atom_escapes_hostile_text() -> None:
    r = parse_request({"q": 'x" &a \x01 \ud7ff'}, NOW)
    feed = build_feed(r, [], 0, base=BASE, seconds=0.0, updated="u")
    text = opensearch_atom.render_feed(feed).decode()
    root = ElementTree.fromstring(text)
    assert root.find("{http://www.w3.org/2005/Atom}title").text.endswith('x" &a  \ud7ff')  # type: ignore[union-attr]
    error = opensearch_atom.render_error("bad <query> & \x00")
    assert (
        ElementTree.fromstring(error)
        .find("{http://www.w3.org/2005/Atom}error/{http://www.w3.org/2005/Atom}message")
        .text
        == "bad <query> & "
    )  # type: ignore[union-attr]


def test_error_documents() -> None:
    assert json.loads(opensearch_json.render_error("undefined field xxx")) == {
        "feed": {
            "xmlns:opensearch": "http://a9.com/-/spec/opensearch/1.1/",
            "xmlns": "http://www.w3.org/2005/Atom",
            "error": {"code": "400", "message": "undefined field xxx"},
        }
    }


def test_description_document() -> None:
    text = opensearch_atom.render_description(BASE + "search", "Hub & co")
    root = ElementTree.fromstring(text)
    urls = root.findall("{http://a9.com/-/spec/opensearch/1.1/}Url")
    assert {u.get("type") for u in urls} == {"application/atom+xml", "application/json"}
    assert all(u.get("template", "").startswith(BASE + "search?q={searchTerms}") for u in urls)


@pytest.mark.parametrize("count", [0, 1, 40])
@pytest.mark.parametrize("base", [BASE, 'http://h\u00e9te:8080/"quoted"\\/dhus/'])
def test_stored_json_entries_give_the_bytes_of_a_rendered_feed(count: int, base: str) -> None:
    """A feed joined from stored entries (the catalogue's ``dhus_json_entry`` documents) is
    byte for byte the feed rendered from the products, whatever the hub's URL."""
    search = request(format="json", rows="100")
    rendered = opensearch_json.render_feed(
        build_feed(search, PRODUCTS[:count], 123, base=base, seconds=0.0, updated="u")
    )
    stored = [opensearch_json.entry_document(p) for p in PRODUCTS[:count]]
    joined = opensearch_json.render_feed_of_entries(
        build_feed(search, (), 123, base=base, seconds=0.0, updated="u"), stored, base
    )
    assert joined == rendered
    assert opensearch_json.BASE_MARK.encode() not in joined and b"\\u0000" not in joined


def test_a_stored_entry_never_takes_the_hub_url_from_product_values() -> None:
    """Product text that spells the mark (its name, its JSON form) stays as it is."""
    spelled = 'eohub-base "href":"\\u0000eohub-base\\u0000'
    product = make_product("S2A_MARK", tile_id=spelled)
    stored = opensearch_json.entry_document(product)
    search = request(format="json")
    joined = opensearch_json.render_feed_of_entries(
        build_feed(search, (), 1, base=BASE, seconds=0.0, updated="u"), [stored], BASE
    )
    assert joined == opensearch_json.render_feed(
        build_feed(search, [product], 1, base=BASE, seconds=0.0, updated="u")
    )
    assert spelled in [s["content"] for s in json.loads(joined)["feed"]["entry"]["str"]]
