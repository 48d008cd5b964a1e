"""The OData v1 API through the ASGI app, over a real SQLite catalogue and archive."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from lxml import etree
from odata_support import OdataHub, asgi_get, build_odata_hub

from eohub.api.app import create_app
from eohub.protocols.dhus.odata_v1.entities import media_name
from eohub.query import Query

D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_odata_hub(tmp_path_factory.mktemp("odata-api"))
    yield built
    built.hub.close()


@pytest.fixture(scope="module")
def app(data: OdataHub) -> FastAPI:
    return create_app(hub=data.hub)


def _json(app: FastAPI, url: str) -> dict:  # type: ignore[type-arg]
    response = asgi_get(app, url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["d"]  # type: ignore[no-any-return]


def _ids(feed: dict) -> list[str]:  # type: ignore[type-arg]
    return [e["Id"] for e in feed["results"]]


def test_product_entry_has_every_dhus_property(app: FastAPI, data: OdataHub) -> None:
    product = data.with_quicklook()
    d = _json(app, f"/odata/v1/Products('{product.id}')?$format=json")
    assert list(d) == [
        "__metadata", "Id", "Name", "ContentType", "ContentLength", "ChildrenNumber", "Value",
        "CreationDate", "IngestionDate", "ModificationDate", "EvictionDate", "Online",
        "OnDemand", "ContentDate", "Checksum", "ContentGeometry", "Products", "Nodes",
        "Attributes", "Class",
    ]  # fmt: skip
    uri = f"http://hub/odata/v1/Products('{product.id}')"
    assert d["__metadata"] == {
        "id": uri, "uri": uri, "type": "DHuS.Product", "content_type": "application/octet-stream",
        "media_src": f"{uri}/$value", "edit_media": f"{uri}/$value",
    }  # fmt: skip
    assert d["Name"] == product.name and d["ContentLength"] == str(product.size)
    assert d["ChildrenNumber"] == "2" and d["Value"] is None and d["EvictionDate"] is None
    assert d["Online"] is True and d["OnDemand"] is False
    ms = int(product.publication_date.timestamp() * 1000)
    assert d["CreationDate"] == f"/Date({ms})/"
    assert d["ContentDate"]["__metadata"] == {"type": "DHuS.TimeRange"}
    assert d["Checksum"] == {
        "__metadata": {"type": "DHuS.Checksum"},
        "Algorithm": "MD5",
        "Value": product.checksum("MD5").upper(),  # type: ignore[union-attr]
    }
    gml = etree.fromstring(d["ContentGeometry"].encode())
    coords = gml.find(".//{http://www.opengis.net/gml}coordinates").text.split()  # type: ignore[union-attr]
    lat, lon = (float(v) for v in coords[0].split(","))
    assert product.footprint is not None
    assert (lon, lat) == product.footprint.original.exterior.coords[0]
    assert d["Attributes"] == {"__deferred": {"uri": f"{uri}/Attributes"}}
    raw = asgi_get(app, f"/odata/v1/Products('{product.id}')?$format=json").content
    assert rb'"\/Date(' in raw  # Olingo's escaping of the date strings


def test_same_answers_under_dhus_and_apihub(app: FastAPI, data: OdataHub) -> None:
    product = data.products[0]
    for prefix in ("", "/dhus", "/apihub"):
        d = _json(app, f"{prefix}/odata/v1/Products('{product.id}')?$format=json")
        assert d["__metadata"]["uri"] == f"http://hub{prefix}/odata/v1/Products('{product.id}')"


def test_atom_is_the_default(app: FastAPI, data: OdataHub) -> None:
    product = data.products[0]
    response = asgi_get(app, f"/odata/v1/Products('{product.id}')")
    assert response.headers["content-type"].startswith("application/atom+xml")
    entry = etree.fromstring(response.content)
    assert entry.tag == f"{ATOM}entry"
    assert entry.findtext(f".//{D}Name") == product.name
    assert (
        entry.find(f".//{D}ContentLength").get(  # type: ignore[union-attr]
            "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}type"
        )
        == "Edm.Int64"
    )
    feed = etree.fromstring(asgi_get(app, "/odata/v1/Products?$top=3").content)
    assert feed.tag == f"{ATOM}feed" and len(feed.findall(f"{ATOM}entry")) == 3
    xml = asgi_get(app, "/odata/v1/Products?$top=1&$format=xml")
    assert xml.headers["content-type"].startswith("application/xml")


def test_feed_paging_order_and_counts(app: FastAPI, data: OdataHub) -> None:
    total = len(data.products) + 1
    assert asgi_get(app, "/odata/v1/Products/$count").text == str(total)
    d = _json(app, "/odata/v1/Products?$format=json&$inlinecount=allpages&$top=3")
    assert d["__count"] == str(total) and len(d["results"]) == 3
    seen: list[str] = []
    for skip in range(0, total, 3):
        seen += _ids(_json(app, f"/odata/v1/Products?$format=json&$top=3&$skip={skip}"))
    assert len(seen) == len(set(seen)) == total
    ordered = _json(app, "/odata/v1/Products?$format=json&$orderby=ContentLength desc,Name")
    sizes = [int(e["ContentLength"]) for e in ordered["results"]]
    assert sizes == sorted(sizes, reverse=True)
    by_start = _json(app, "/odata/v1/Products?$format=json&$orderby=ContentDate/Start asc")
    starts = [int(e["ContentDate"]["Start"][6:-2]) for e in by_start["results"]]
    assert starts == sorted(starts)


@pytest.mark.parametrize(
    ("expression", "check"),
    [
        ("substringof('MSIL', Name)", lambda p: "MSIL" in p.name),
        ("startswith(Name,'S1')", lambda p: p.name.startswith("S1")),
        ("endswith(Name,'0')", lambda p: p.name.endswith("0")),
        ("substringof('msil', tolower(Name))", lambda p: "msil" in p.name.lower()),
        ("toupper(Name) eq 'NOPE'", lambda p: False),
        ("Online eq false", lambda p: not p.online or p.archive_key is None),
        ("Online", lambda p: p.online),
        ("not Online", lambda p: not p.online),
        ("ContentLength gt 40000 and ContentLength le 60000", lambda p: 40000 < p.size <= 60000),
        ("year(ContentDate/Start) eq 2024", lambda p: p.sensing.start.year == 2024),
        ("year(ContentDate/Start) lt 2024", lambda p: p.sensing.start.year < 2024),
        ("month(ContentDate/Start) ge 6", lambda p: p.sensing.start.month >= 6),
        ("day(ContentDate/Start) le 10", lambda p: p.sensing.start.day <= 10),
        ("year(ContentDate/End) eq 2024 and month(ContentDate/End) le 6 and "
         "hour(ContentDate/End) lt 12",
         lambda p: p.sensing.end.year == 2024 and p.sensing.end.month <= 6
         and p.sensing.end.hour < 12),
        ("minute(IngestionDate) ge 0 and second(IngestionDate) lt 60", lambda p: True),
        ("ContentDate/Start ge datetime'2024-01-01T00:00:00'",
         lambda p: p.sensing.start >= datetime(2024, 1, 1, tzinfo=UTC)),
        ("Attributes('Product type') eq 'GRD' or cloudCover lt 30",
         lambda p: p.product_type == "GRD" or (p.cloud_cover is not None and p.cloud_cover < 30)),
        ("Attributes('Satellite') eq 'Sentinel-2'", lambda p: p.mission == "Sentinel-2"),
        ("Attributes('productClass') eq 'S'", lambda p: p.attributes.get("productClass") == "S"),
        ("Collection/Name eq 'SENTINEL-3'", lambda p: p.collection == "SENTINEL-3"),
        ("OnDemand eq false and (Name ne null)", lambda p: True),
    ],
)  # fmt: skip
def test_filters_select_what_they_say(app: FastAPI, data: OdataHub, expression, check) -> None:  # type: ignore[no-untyped-def]
    everything = list(data.hub.catalogue.search(Query(limit=100)).items)
    expected = {str(p.id) for p in everything if check(p)}
    got = _json(app, f"/odata/v1/Products?$format=json&$top=100&$filter={expression}")
    assert set(_ids(got)) == expected
    count = asgi_get(app, f"/odata/v1/Products/$count?$filter={expression}").text
    assert count == str(len(expected))


def test_filter_by_id_and_collection_products(app: FastAPI, data: OdataHub) -> None:
    product = data.products[2]
    d = _json(app, f"/odata/v1/Products?$format=json&$filter=Id eq '{product.id}'")
    assert _ids(d) == [str(product.id)]
    assert _ids(_json(app, "/odata/v1/Products?$format=json&$filter=Id eq 'x'")) == []
    names = [e["Name"] for e in _json(app, "/odata/v1/Collections?$format=json")["results"]]
    assert names == sorted({p.collection for p in [*data.products, data.offline]})
    s2 = _json(app, "/odata/v1/Collections('SENTINEL-2')/Products?$format=json&$top=100")
    assert set(_ids(s2)) == {str(p.id) for p in data.products if p.collection == "SENTINEL-2"}
    n = asgi_get(app, "/odata/v1/Collections('SENTINEL-2')/Products/$count").text
    assert n == str(len(s2["results"]))
    assert asgi_get(app, "/odata/v1/Collections('NOPE')?$format=json").status_code == 404


def test_select_and_expand(app: FastAPI, data: OdataHub) -> None:
    product = data.with_quicklook()
    d = _json(app, f"/odata/v1/Products('{product.id}')?$format=json&$select=Name,Online")
    assert list(d) == ["__metadata", "Name", "Online"]
    full = _json(app, f"/odata/v1/Products('{product.id}')?$format=json&$expand=Attributes")
    attrs = {a["Name"]: a for a in full["Attributes"]["results"]}
    assert attrs["Filename"]["Value"] == product.filename
    assert attrs["Filename"]["Category"] == "summary"
    assert attrs["Filename"]["ContentLength"] == str(len(product.filename))
    for name in product.attributes:
        assert name in attrs
    both = _json(
        app, f"/odata/v1/Products('{product.id}')?$format=json&$expand=Nodes,Class,Products"
    )
    assert [n["Name"] for n in both["Nodes"]["results"]] == [f"{product.name}.SAFE"]
    assert both["Class"]["Id"] == f"{product.collection}:{product.product_type}"
    assert [p["Id"] for p in both["Products"]["results"]] == ["Quicklook", "Thumbnail"]
    feed = _json(app, "/odata/v1/Products?$format=json&$top=2&$expand=Attributes&$select=Id")
    assert all("results" in e["Attributes"] for e in feed["results"])


def test_properties_and_values(app: FastAPI, data: OdataHub) -> None:
    product = data.products[0]
    base = f"/odata/v1/Products('{product.id}')"
    online = asgi_get(app, f"{base}/Online/$value")
    assert (online.text, online.headers["content-type"]) == ("true", "text/plain;charset=utf-8")
    assert asgi_get(app, f"/odata/v1/Products('{data.offline.id}')/Online/$value").text == "false"
    md5 = asgi_get(app, f"{base}/Checksum/Value/").text
    assert "\n" not in md5 and md5.startswith("<?xml")
    assert md5.split(">")[2].split("<")[0] == product.checksum("MD5").upper()  # type: ignore[union-attr]
    assert asgi_get(app, f"{base}/Checksum/Value/$value").text == product.checksum("MD5").upper()  # type: ignore[union-attr]
    assert asgi_get(app, f"{base}/Attributes('Filename')/Value/$value").text == product.filename
    assert _json(app, f"{base}/Name?$format=json") == {"Name": product.name}
    start = _json(app, f"{base}/ContentDate?$format=json")["ContentDate"]["Start"]
    assert start.startswith("/Date(")
    attr = _json(app, f"{base}/Attributes('Identifier')?$format=json")
    assert attr["Value"] == product.name
    klass = _json(app, f"{base}/Class?$format=json")
    assert klass["Id"] == f"{product.collection}:{product.product_type}"


def test_nodes_browse_down_to_single_files(app: FastAPI, data: OdataHub) -> None:
    product = data.by_collection("SENTINEL-1")
    base = f"/odata/v1/Products('{product.id}')/Nodes('{product.name}.SAFE')"
    root = _json(app, f"{base}?$format=json")
    assert root["Id"] == f"{product.name}.SAFE" and int(root["ChildrenNumber"]) >= 2
    children = {n["Name"]: n for n in _json(app, f"{base}/Nodes?$format=json")["results"]}
    assert {"manifest.safe", "annotation", "measurement"} <= set(children)
    manifest = _json(app, f"{base}/Nodes('manifest.safe')?$format=json")
    body = asgi_get(app, f"{base}/Nodes('manifest.safe')/$value")
    assert body.status_code == 200 and len(body.content) == int(manifest["ContentLength"])
    assert body.content.startswith(b"<?xml")
    assert manifest["__metadata"]["type"] == "DHuS.Node"
    ranged = asgi_get(app, f"{base}/Nodes('manifest.safe')/$value", headers={"Range": "bytes=5-9"})
    assert ranged.status_code == 206 and ranged.content == body.content[5:10]
    folder = _json(app, f"{base}/Nodes('annotation')/Nodes?$format=json")["results"]
    assert folder and all(n["__metadata"]["type"] == "DHuS.Node" for n in folder)
    missing = asgi_get(app, f"{base}/Nodes('nope.xml')/$value")
    assert missing.status_code == 404 and "Invalid key (nope.xml)" in missing.text


def test_netcdf_product_has_a_single_node(app: FastAPI, data: OdataHub) -> None:
    product = data.by_collection("SENTINEL-5P")
    nodes = _json(app, f"/odata/v1/Products('{product.id}')/Nodes?$format=json")["results"]
    assert [n["Name"] for n in nodes] == [media_name(product)]
    assert nodes[0]["ContentLength"] == str(product.size)
    body = asgi_get(
        app, f"/odata/v1/Products('{product.id}')/Nodes('{media_name(product)}')/$value"
    )
    assert body.status_code == 200 and body.content[:4] == b"\x89HDF"


def test_formats_csv_metalink_metadata_service(app: FastAPI, data: OdataHub) -> None:
    response = asgi_get(app, "/odata/v1/Products?$format=csv&$top=3&$select=Id,Name,ContentDate")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["Id", "Name", "ContentDate:Start", "ContentDate:End"]
    assert len(rows) == 4 and response.text.endswith("\r\n")
    metalink = asgi_get(app, "/odata/v1/Products?$format=metalink&$top=2")
    root = etree.fromstring(metalink.content)
    files = root.findall("{urn:ietf:params:xml:ns:metalink}file")
    assert len(files) == 2 and metalink.headers["content-type"] == "application/metalink4+xml"
    empty = asgi_get(app, "/odata/v1/Products?$format=csv&$filter=Name eq 'none'")
    assert empty.status_code == 204
    meta = etree.fromstring(asgi_get(app, "/odata/v1/$metadata").content)
    sets = meta.findall(".//{http://schemas.microsoft.com/ado/2008/09/edm}EntitySet")
    assert {"Products", "Collections", "Nodes", "Attributes"} <= {s.get("Name") for s in sets}
    service = _json(app, "/odata/v1/?$format=json")
    assert "Products" in service["EntitySets"]
    assert asgi_get(app, "/odata/v1/$metadata?$format=json").status_code == 400
    deleted = _json(app, "/odata/v1/DeletedProducts?$format=json")
    assert deleted["results"] == []  # nothing was deleted in this hub
    classes = _json(app, "/odata/v1/Classes?$format=json")["results"]
    assert {c["Id"] for c in classes} == {
        f"{p.collection}:{p.product_type}" for p in [*data.products, data.offline]
    }


def test_offline_product_reads_but_does_not_download(app: FastAPI, data: OdataHub) -> None:
    base = f"/odata/v1/Products('{data.offline.id}')"
    d = _json(app, f"{base}?$format=json")
    assert d["Online"] is False and d["ChildrenNumber"] == "0"
    trigger = asgi_get(app, f"{base}/$value", headers={"Range": "bytes=0-1"})
    assert trigger.status_code == 202 and trigger.content == b""
    assert asgi_get(app, f"{base}/Attributes('Filename')/Value/$value").text.endswith(
        (".SAFE", ".SEN3", ".nc")
    )
    assert asgi_get(app, f"{base}/Nodes?$format=json").status_code == 404


def test_unknown_product_is_dhus_invalid_key(app: FastAPI) -> None:
    unknown = uuid.uuid4()
    for key in (str(unknown), "invalid-xyz"):
        response = asgi_get(app, f"/odata/v1/Products('{key}')?$format=json")
        assert response.status_code == 404
        assert response.json() == {
            "error": {
                "code": None,
                "message": {"lang": "en", "value": f"Invalid key ({key}) to access Products"},
            }
        }
        assert response.headers["cause-message"] == (
            f"InvalidKeyException : Invalid key ({key}) to access Products"
        )
        xml = asgi_get(app, f"/odata/v1/Products('{key}')/Online/$value")
        assert xml.status_code == 404 and xml.headers["content-type"] == "application/xml"
        assert (
            etree.fromstring(xml.content).findtext(
                "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}message"
            )
            == f"Invalid key ({key}) to access Products"
        )
