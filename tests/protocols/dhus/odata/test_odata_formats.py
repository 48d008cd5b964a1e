"""Options and paths, the renderers (JSON, Atom, CSV, Metalink, EDMX) and zip browsing."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from lxml import etree
from shapely.geometry import Polygon

from eohub.model import Footprint
from eohub.protocols.dhus.odata_v1 import atom, formats, json_format
from eohub.protocols.dhus.odata_v1.edm import (
    ENTITY_TYPES,
    PRODUCT,
    Edm,
    Entity,
    Feed,
    Prop,
    quote_key,
)
from eohub.protocols.dhus.odata_v1.entities import gml_footprint, human_size
from eohub.protocols.dhus.odata_v1.errors import ODataError
from eohub.protocols.dhus.odata_v1.ingests import INGEST
from eohub.protocols.dhus.odata_v1.nodes import ProductTree
from eohub.protocols.dhus.odata_v1.options import (
    MAX_TOP,
    Format,
    Segment,
    parse_options,
    parse_path,
)
from eohub.protocols.dhus.odata_v1.synchronizers import SYNCHRONIZER
from eohub.query.query import SortKey

WHEN = datetime(2018, 10, 1, 6, 16, 47, 668000, tzinfo=UTC)


def test_options() -> None:
    options = parse_options(
        {"$top": "5", "$skip": "10", "$orderby": "IngestionDate desc,Name", "$format": "json",
         "$inlinecount": "allpages", "$select": "Id, Name", "$expand": "Attributes", "q": "x"}
    )  # fmt: skip
    assert options.top == 5 and options.skip == 10 and options.inlinecount
    assert options.orderby == (SortKey("ingestion_date", True), SortKey("name"))
    assert options.format is Format.JSON and options.select == ("Id", "Name")
    assert parse_options({"$format": "application/atom+xml"}).format is Format.ATOM
    assert parse_options({}).top is None
    with pytest.raises(ODataError, match=f"authorized size \\({MAX_TOP}\\)"):
        parse_options({"$top": str(MAX_TOP + 1)})


def test_paths() -> None:
    assert parse_path("") == []
    assert parse_path("/Products('a%20b')/Nodes('x.SAFE')/$value/") == [
        Segment("Products", "a b"), Segment("Nodes", "x.SAFE"), Segment("$value")
    ]  # fmt: skip
    assert parse_path("Attributes('it''s')") == [Segment("Attributes", "it's")]
    assert parse_path("Nodes('a%2Fb')") == [Segment("Nodes", "a/b")]
    assert parse_path("Nodes('a/b')") == [Segment("Nodes", "a/b")]
    assert parse_path("Products(guid'abc')") == [Segment("Products", "abc")]
    for bad in ("Products(x)", "Products('x'", "Products('a'b')", "a)b", "Products('%ff')"):
        with pytest.raises(ODataError) as err:
            parse_path(bad)
        assert err.value.status == 400
    assert quote_key("Baseline Collection") == "'Baseline%20Collection'"
    assert parse_path(f"Attributes({quote_key('Pass (start) 50%')})") == [
        Segment("Attributes", "Pass (start) 50%")
    ]


def _entity() -> Entity:
    return Entity(
        PRODUCT,
        "Products('x')",
        [
            Prop("Id", Edm.STRING, "x"),
            Prop("Name", Edm.STRING, 'a,"b"\nc'),
            Prop("ContentLength", Edm.INT64, 700011),
            Prop("Value", Edm.STRING, None),
            Prop("CreationDate", Edm.DATETIME, WHEN),
            Prop("Online", Edm.BOOLEAN, False),
            Prop(
                "ContentDate",
                Edm.TIME_RANGE,
                (Prop("Start", Edm.DATETIME, WHEN), Prop("End", Edm.DATETIME, WHEN)),
            ),
        ],  # fmt: skip
        title="x",
    )


def test_json_encodings() -> None:
    raw = json_format.entry_document(_entity(), "http://h/odata/v1")
    assert b'"CreationDate":"\\/Date(1538374607668)\\/"' in raw
    d = json.loads(raw)["d"]
    assert d["ContentLength"] == "700011" and d["Online"] is False and d["Value"] is None
    assert d["ContentDate"] == {
        "__metadata": {"type": "DHuS.TimeRange"},
        "Start": "/Date(1538374607668)/",
        "End": "/Date(1538374607668)/",
    }
    assert d["Nodes"] == {"__deferred": {"uri": "http://h/odata/v1/Products('x')/Nodes"}}
    feed = json.loads(json_format.feed_document(Feed("Products", "Products", [], 0), "r"))
    assert feed == {"d": {"__count": "0", "results": []}}


def test_atom_entry_and_property() -> None:
    entry = etree.fromstring(atom.entry_document(_entity(), "http://h/odata/v1"))
    m = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"
    d = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
    props = entry.find(f"{m}properties")
    assert props is not None
    assert props.findtext(f"{d}CreationDate") == "2018-10-01T06:16:47.668"
    assert props.find(f"{d}Value").get(f"{m}null") == "true"  # type: ignore[union-attr]
    assert props.find(f"{d}ContentDate").get(f"{m}type") == "DHuS.TimeRange"  # type: ignore[union-attr]
    content = entry.find("{http://www.w3.org/2005/Atom}content")
    assert content is not None and content.get("src") == "Products('x')/$value"
    one_line = atom.property_document(Prop("Value", Edm.STRING, "1495B98F"))
    assert b"\n" not in one_line
    assert one_line.decode().split(">")[2].split("<")[0] == "1495B98F"
    error = atom.error_document("bad \x00 thing")
    assert etree.fromstring(error) is not None


def test_csv_and_metalink() -> None:
    feed = Feed("Products", "Products", [_entity(), _entity()])
    rows = list(csv.reader(io.StringIO(formats.csv_document(feed).decode(), newline="")))
    assert rows[0][:4] == ["Id", "Name", "ContentType", "ContentLength"]
    assert "ContentDate:Start" in rows[0] and rows[1][1] == 'a,"b"\nc'
    assert rows[1][rows[0].index("ContentType")] == "null"
    assert rows[1][rows[0].index("CreationDate")] == "2018-10-01T06:16:47.668"
    selected = formats.csv_document(feed, ("Id", "Online")).decode()
    assert selected.split("\r\n")[0] == "Id,Online"
    link = etree.fromstring(formats.metalink_document([("a.zip", 5, "ABC", "http://h/x")]))
    ns = "{urn:ietf:params:xml:ns:metalink}"
    assert link.find(f"{ns}file").get("name") == "a.zip"  # type: ignore[union-attr]
    assert link.findtext(f"{ns}file/{ns}hash") == "abc"


def test_metadata_is_consistent() -> None:
    edmx = etree.fromstring(formats.metadata_document((INGEST, SYNCHRONIZER)))
    edm = "{http://schemas.microsoft.com/ado/2008/09/edm}"
    types = {t.get("Name"): t for t in edmx.iter(f"{edm}EntityType")}
    assert set(types) == {*ENTITY_TYPES, "Ingest", "Synchronizer"}
    sets = {s.get("Name"): s.get("EntityType") for s in edmx.iter(f"{edm}EntitySet")}
    assert sets["Ingests"].endswith(".Ingest") and sets["Synchronizers"].endswith(".Synchronizer")
    ingest = [p.get("Name") for p in types["Ingest"].iter(f"{edm}Property")]
    assert ingest == ["Id", "Status", "StatusDate", "StatusMessage", "Filename", "MD5", "Uploader"]
    associations = {a.get("Name") for a in edmx.iter(f"{edm}Association")}
    for nav in edmx.iter(f"{edm}NavigationProperty"):
        assert nav.get("Relationship").split(".", 1)[1] in associations  # type: ignore[union-attr]
    product = [p.get("Name") for p in types["Product"].iter(f"{edm}Property")]
    assert product[:6] == ["Id", "Name", "ContentType", "ContentLength", "ChildrenNumber", "Value"]
    assert "LocalPath" not in product


def test_gml_is_lat_lon_and_sizes() -> None:
    footprint = Footprint.from_geometry(Polygon([(10, 50), (11, 50), (11, 51.5), (10, 50)]))
    gml = gml_footprint(footprint)
    assert gml is not None and "<gml:coordinates>50.0,10.0 50.0,11.0 51.5,11.0 50.0,10.0<" in gml
    assert gml.startswith('<gml:Polygon srsName="http://www.opengis.net/gml/srs/epsg.xml#4326"')
    assert gml_footprint(None) is None
    assert human_size(695_408) == "679.11 KB" and human_size(12) == "12 B"


def _zip(entries: dict[str, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            if data is None:
                zf.writestr(name, b"")
            else:
                zf.writestr(name, data)
    return buffer.getvalue()


def test_zip_tree_lists_and_reads_members() -> None:
    payload = bytes(range(256)) * 1000
    raw = _zip({"P.SAFE/manifest.safe": b"<xml/>", "P.SAFE/measurement/b.tiff": payload,
                "P.SAFE/../evil": b"x", "P.SAFE/empty/": None})  # fmt: skip
    opened: list[int] = []

    def open_file() -> io.BytesIO:
        opened.append(1)
        return io.BytesIO(raw)

    tree = ProductTree("P.zip", len(raw), open_file)
    (root,) = tree.roots()
    assert root.name == "P.SAFE" and root.is_dir and root.children == 3
    names = sorted(n.name for n in tree.children(root))
    assert names == ["empty", "manifest.safe", "measurement"]
    member = tree.resolve(["P.SAFE", "measurement", "b.tiff"])
    assert member.size == len(payload) and member.content_type == "image/tiff"
    assert b"".join(tree.iter_member(member, 1000, 5000)) == payload[1000:6000]
    assert b"".join(tree.iter_member(member, 0, member.size)) == payload
    with pytest.raises(ODataError) as err:
        tree.resolve(["P.SAFE", "nope"])
    assert err.value.status == 404
    single = ProductTree("S5P.nc", 10, open_file)
    (node,) = single.roots()
    assert node.member is None and node.size == 10 and node.content_type == "application/x-netcdf"
    broken = ProductTree("bad.zip", 3, lambda: io.BytesIO(b"not a zip"))
    with pytest.raises(ODataError):
        broken.roots()
