"""The CDSE-style OData API on a real uvicorn server on 127.0.0.1, hit with ``requests`` as CDSE
clients do: the request examples of CDSE's documentation (cdse.md sections 1.4 and 1.5), the
JSON shapes, keyset paging through a few hundred products, downloads, and bad input."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from odata_support import OdataHub, build_odata_hub, live_server

from account_support import DOWNLOADER
from eohub.demo.records import generate_products
from eohub.model import Product

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
PRODUCT_KEYS = ["@odata.mediaContentType", "Id", "Name", "ContentType", "ContentLength",
                "OriginDate", "PublicationDate", "ModificationDate", "Online", "EvictionDate",
                "S3Path", "Checksum", "ContentDate", "Footprint", "GeoFootprint"]  # fmt: skip
CATALOGUED = 300
MAX_PAGES = 200


@dataclass
class Served:
    data: OdataHub
    url: str  # the service root
    deleted: list[Product]
    total: int

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", DOWNLOADER)
        kwargs.setdefault("timeout", 60)
        return requests.get(f"{self.url}/{path}", **kwargs)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root: Path = tmp_path_factory.mktemp("csc")
    data = build_odata_hub(root, n=6)
    data.hub.catalogue.upsert(generate_products(CATALOGUED, seed=7))
    extra = list(generate_products(3, seed=99))
    data.hub.catalogue.upsert(extra)
    for product in extra:
        data.hub.catalogue.delete(product.id, cause="Obsolete product or Other")
    total = len(data.products) + 1 + CATALOGUED
    with live_server(data.hub) as base:
        yield Served(data, f"{base}/catalogue/odata/v1", extra, total)
    data.hub.close()


def _check_product(entity: dict[str, Any]) -> None:
    assert [k for k in entity if k in PRODUCT_KEYS] == PRODUCT_KEYS
    assert entity["@odata.mediaContentType"] == "application/octet-stream"
    assert entity["ContentType"] == "application/octet-stream"
    uuid.UUID(entity["Id"])
    for key in ("OriginDate", "PublicationDate", "ModificationDate"):
        assert DATETIME.match(entity[key]), entity[key]
    assert DATETIME.match(entity["ContentDate"]["Start"])
    assert DATETIME.match(entity["ContentDate"]["End"])
    assert entity["EvictionDate"] == "9999-12-31T23:59:59.999999Z"
    assert isinstance(entity["Online"], bool) and isinstance(entity["ContentLength"], int)
    if entity["Footprint"] is not None:
        assert re.match(r"^geography'SRID=4326;(MULTI)?POLYGON \(\(", entity["Footprint"])
        assert entity["GeoFootprint"]["type"] in ("Polygon", "MultiPolygon")
    for checksum in entity["Checksum"]:
        assert set(checksum) == {"Value", "Algorithm", "ChecksumDate"}


def test_product_entity_has_cdse_shape(served: Served) -> None:
    product = served.data.by_collection("SENTINEL-2")
    assert product.quicklook_key
    response = served.get(f"Products({product.id})")
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == "$metadata#Products/$entity"
    _check_product(body)
    assert body["Name"] == product.filename
    assert [c["Algorithm"] for c in body["Checksum"]] == ["MD5", "BLAKE3"]
    assert body["Checksum"][0]["Value"] == product.checksum("MD5")
    assert DATETIME.match(body["Checksum"][0]["ChecksumDate"])
    assert body["Online"] is True
    assert body["S3Path"] is None  # the local-folder archive has no S3 path
    expanded = served.get(f"Products({product.id})?$expand=Attributes&$expand=Assets").json()
    assert expanded["@odata.context"] == "$metadata#Products(Attributes(),Assets())/$entity"
    names = {a["Name"]: a for a in expanded["Attributes"]}
    assert names["productType"]["@odata.type"] == "#OData.CSC.StringAttribute"
    assert names["cloudCover"]["ValueType"] == "Double"
    assert names["orbitNumber"] == {"@odata.type": "#OData.CSC.IntegerAttribute",
                                    "Name": "orbitNumber", "Value": product.orbit_number,
                                    "ValueType": "Integer"}  # fmt: skip
    assert DATETIME.match(names["beginningDateTime"]["Value"])
    [asset] = expanded["Assets"]
    assert asset["Type"] == "QUICKLOOK"
    assert asset["DownloadLink"] == f"{served.url}/Assets({asset['Id']})/$value"
    quicklook = requests.get(asset["DownloadLink"], auth=DOWNLOADER, timeout=30)
    assert quicklook.status_code == 200 and quicklook.content[:2] == b"\xff\xd8"
    located = served.get(f"Products({product.id})?$expand=Locations").json()["Locations"]
    assert located[0]["DownloadLink"] == f"{served.url}/Products({product.id})/$value"
    assert located[0]["ContentLength"] == product.size


# The request examples of CDSE's documentation, verbatim but for the product name of the first,
# which names a product of this hub.
DOC_EXAMPLES = [
    "$filter=Collection/Name eq 'SENTINEL-2' and ContentDate/Start gt 2022-05-03T00:00:00.000Z "
    "and ContentDate/Start lt 2022-05-21T00:00:00.000Z",
    "$filter=contains(Name,'S1A')",
    "$filter=startswith(Name,'S2')",
    "$filter=endswith(Name,'.SAFE')",
    "$filter=ContentDate/Start gt 2022-05-03T00:00:00.000Z and ContentDate/Start lt "
    "2022-05-21T00:00:00.000Z",
    "$filter=OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((12.655118166047592 "
    "47.44667197521409,21.39065656328509 48.347694733853245,28.334291357162826 "
    "41.877123516783655,17.47086198383573 40.35854475076158,12.655118166047592 "
    "47.44667197521409))')",
    "$filter=OData.CSC.Intersects(area=geography'SRID=4326;POINT(12.4924 41.8902)')",
    "$filter=Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
    "att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
    "$filter=Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
    "att/OData.CSC.DoubleAttribute/Value le 40.00)",
    "$filter=Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
    "att/OData.CSC.IntegerAttribute/Value eq 10844)",
    "$filter=Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' "
    "and att/OData.CSC.DateTimeOffsetAttribute/Value gt 2024-01-01T00:00:00Z)",
    "$filter=Attributes/OData.CSC.StringAttribute/any(i0:i0/Name eq 'productType' and "
    "i0/Value eq 'RAW')",
    "$filter=Collection/Name eq 'SENTINEL-1' and Attributes/OData.CSC.IntegerAttribute/any(att:"
    "att/Name eq 'relativeOrbitNumber' and att/OData.CSC.StringAttribute/Value eq 22)",
    "$filter=not (Collection/Name eq 'SENTINEL-2') and ContentDate/Start gt "
    "2022-05-03T00:00:00.000Z",
    "$filter=ContentDate/Start gt 2024-08-01",
    "$filter=ContentDate/Start gt 2022-05-03T00:00:00.000-04:00",
    "$filter=ContentDate/Start gt 2022-05-03T00:00:00.000%2B02:00",
    "$filter=ModificationDate gt 2022-05-03T00:00:00.000Z",
    "$filter=PublicationDate gt 2022-05-03T00:00:00.000Z",
    "$filter=Online eq true",
    "$orderby=ContentDate/Start desc",
    "$orderby=PublicationDate asc&$top=100",
    "$top=100",
    "$skip=23",
    "$count=True",
    "$count=1",
    "$expand=Attributes",
    "$expand=Assets",
    "$expand=Attributes&$expand=Assets",
    "$expand=Attributes,Locations,Assets",
    "$select=Id,Name,ContentDate",
    "$select=*",
]


@pytest.mark.parametrize("query", DOC_EXAMPLES)
def test_documentation_examples(served: Served, query: str) -> None:
    response = served.get(f"Products?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].startswith("$metadata#Products")
    top = int(m.group(1)) if (m := re.search(r"\$top=(\d+)", query)) else 20
    assert len(body["value"]) <= top
    if "$count" in query:
        assert body["@odata.count"] == served.total - 23 * 0
    if "$select=Id" in query:
        assert all(list(e) == ["@odata.mediaContentType", "Id", "Name", "ContentDate"]
                   for e in body["value"])  # fmt: skip
    elif "$expand" not in query:
        for entity in body["value"]:
            _check_product(entity)


def test_filters_find_what_they_say(served: Served) -> None:
    s2 = served.get("Products?$filter=Collection/Name eq 'SENTINEL-2'&$top=1000").json()["value"]
    assert s2 and all(e["Name"].startswith("S2") for e in s2)
    cloudy = served.get(
        "Products?$filter=Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' "
        "and att/OData.CSC.DoubleAttribute/Value le 40.00)&$expand=Attributes&$top=1000"
    ).json()["value"]
    assert cloudy
    for entity in cloudy:
        [cover] = [a["Value"] for a in entity["Attributes"] if a["Name"] == "cloudCover"]
        assert cover <= 40
    product = served.data.by_collection("SENTINEL-1")
    by_name = served.get(f"Products?$filter=Name eq '{product.filename}'").json()["value"]
    assert [e["Id"] for e in by_name] == [str(product.id)]
    by_id = served.get(f"Products?$filter=Id eq {product.id}").json()["value"]
    assert [e["Id"] for e in by_id] == [str(product.id)]


@pytest.mark.parametrize("order", ["", "&$orderby=ContentDate/Start desc",
                                   "&$orderby=ModificationDate asc"])  # fmt: skip
def test_next_links_harvest_every_product_exactly_once(served: Served, order: str) -> None:
    url: str | None = f"{served.url}/Products?$top=37&$count=true{order}"
    seen: list[str] = []
    counts: set[int] = set()
    for _ in range(MAX_PAGES):
        if url is None:
            break
        response = requests.get(url, auth=DOWNLOADER, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        counts.add(body["@odata.count"])
        seen += [e["Id"] for e in body["value"]]
        url = body.get("@odata.nextLink")
        if url is not None:
            assert "%24skiptoken=" in url and "%24count=true" in url and "%24top=37" in url
            assert "$skip=" not in url and "%24skip=" not in url
    assert url is None, "the harvest did not end"
    assert counts == {served.total}
    assert len(seen) == len(set(seen)) == served.total


def test_skip_has_no_depth_cap_and_ends_without_next_link(served: Served) -> None:
    body = served.get(f"Products?$skip={served.total - 5}&$top=10").json()
    assert len(body["value"]) == 5 and "@odata.nextLink" not in body
    assert served.get("Products?$skip=10001").status_code == 200


def test_filter_list_finds_names_with_or_without_extension(served: Served) -> None:
    a, b = served.data.products[:2]
    body = {"FilterProducts": [{"Name": a.filename}, {"Name": b.name}, {"Name": "NOPE.SAFE"}]}
    response = requests.post(f"{served.url}/Products/OData.CSC.FilterList", json=body,
                             auth=DOWNLOADER, timeout=30)  # fmt: skip
    assert response.status_code == 200
    assert sorted(e["Id"] for e in response.json()["value"]) == sorted([str(a.id), str(b.id)])


def test_deleted_products(served: Served) -> None:
    body = served.get("DeletedProducts?$count=true&$orderby=DeletionDate desc").json()
    assert body["@odata.context"] == "$metadata#DeletedProducts"
    assert body["@odata.count"] == 3
    ids = [e["Id"] for e in body["value"]]
    assert sorted(ids) == sorted(str(p.id) for p in served.deleted)
    first = body["value"][0]
    assert DATETIME.match(first["DeletionDate"])
    assert first["DeletionCause"] == "Obsolete product or Other"
    one = served.deleted[0]
    single = served.get(f"DeletedProducts({one.id})?$expand=Attributes").json()
    assert single["@odata.context"] == "$metadata#DeletedProducts(Attributes())/$entity"
    assert single["Id"] == str(one.id) and isinstance(single["Attributes"], list)
    named = served.get(f"DeletedProducts?$filter=Name eq '{one.filename}'").json()["value"]
    assert [e["Id"] for e in named] == [str(one.id)]
    after = served.get("DeletedProducts?$filter=DeletionDate gt 2000-01-01T00:00:00Z").json()
    assert len(after["value"]) == 3
    assert served.get(f"Products({one.id})").status_code == 404


def test_deleted_products_by_content_date_and_attributes(served: Served) -> None:
    def ids(flt: str) -> set[str]:
        answer = served.get("DeletedProducts", params={"$filter": flt, "$top": "100"})
        assert answer.status_code == 200, answer.text
        return {e["Id"] for e in answer.json()["value"]}

    def stamp(value: Any) -> str:
        return str(value.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    gone = sorted(served.deleted, key=lambda p: p.sensing.start)
    every = {str(p.id) for p in gone}
    first, last = gone[0], gone[-1]
    assert first.sensing.start < last.sensing.start
    assert ids(f"ContentDate/Start gt {stamp(first.sensing.start)}") == every - {str(first.id)}
    assert ids(f"ContentDate/Start eq {stamp(first.sensing.start)}") == {str(first.id)}
    assert ids(f"ContentDate/End le {stamp(last.sensing.end)}") == every
    window = (f"ContentDate/Start ge {stamp(first.sensing.start)} and "
              f"ContentDate/End lt {stamp(last.sensing.end)}")  # fmt: skip
    assert ids(window) == every - {str(last.id)}
    assert ids(f"not (ContentDate/Start ne {stamp(last.sensing.start)})") == {str(last.id)}
    one = gone[1]
    orbit = ("Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
             f"att/OData.CSC.IntegerAttribute/Value eq {one.orbit_number})")  # fmt: skip
    assert str(one.id) in ids(orbit)
    typed = ("Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
             f"att/OData.CSC.StringAttribute/Value eq '{one.product_type}')")  # fmt: skip
    same_type = {str(p.id) for p in gone if p.product_type == one.product_type}
    assert ids(typed) == same_type
    assert ids(f"{typed} and DeletionCause eq 'Obsolete product or Other'") == same_type
    assert ids(f"{typed} and DeletionCause eq 'Other'") == set()
    either = f"({typed}) or ContentDate/Start eq {stamp(first.sensing.start)}"
    assert ids(either) == same_type | {str(first.id)}
    assert ids(f"not ({typed})") == every - same_type


def test_deleted_products_by_cause_and_collection(served: Served) -> None:
    def ids(flt: str) -> set[str]:
        answer = served.get("DeletedProducts", params={"$filter": flt, "$top": "100"})
        assert answer.status_code == 200, answer.text
        return {e["Id"] for e in answer.json()["value"]}

    every = {str(p.id) for p in served.deleted}
    assert ids("DeletionCause eq 'Obsolete product or Other'") == every
    assert ids("contains(DeletionCause,'Obsolete')") == every
    assert ids("startswith(DeletionCause,'Corrupted')") == set()
    one = served.deleted[0]
    same = {str(p.id) for p in served.deleted if p.collection == one.collection}
    assert ids(f"Collection/Name eq '{one.collection}'") == same
    both = f"Collection/Name eq '{one.collection}' and endswith(DeletionCause,'Other')"
    assert ids(both) == same
    assert ids("Collection/Name eq 'NOPE'") == set()
    assert ids("DeletionCause eq 'x' and DeletionCause eq 'y'") == set()


def test_attributes_per_collection(served: Served) -> None:
    s2 = served.get("Attributes(SENTINEL-2)").json()
    assert {"Name": "cloudCover", "ValueType": "Double"} in s2
    assert {"Name": "tileId", "ValueType": "String"} in s2
    every = served.get("Attributes").json()
    assert set(every) >= {"SENTINEL-1", "SENTINEL-2", "SENTINEL-3", "SENTINEL-5P"}
    missing = served.get("Attributes(NOPE)")
    assert missing.status_code == 404 and "request_id" in missing.json()["detail"]


def test_downloads_stream_with_ranges_and_need_the_download_role(served: Served) -> None:
    product = served.data.by_collection("SENTINEL-2")
    whole = served.get(f"Products({product.id})/$value")
    assert whole.status_code == 200 and len(whole.content) == product.size
    assert whole.headers["ETag"] == f'"{product.checksum("MD5")}"'
    zipped = served.get(f"Products({product.id})/$zip")
    assert zipped.content == whole.content
    part = served.get(f"Products({product.id})/$value", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole.content[10:20]
    anonymous = requests.get(f"{served.url}/Products({product.id})/$value", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert set(anonymous.json()["detail"]) == {"message", "request_id"}
    offline = served.get(f"Products({served.data.offline.id})/$value")
    assert offline.status_code == 404


def test_nodes_browse_and_download_files(served: Served) -> None:
    product = served.data.by_collection("SENTINEL-2")
    roots = served.get(f"Products({product.id})/Nodes").json()["result"]
    assert [n["Name"] for n in roots] == [product.filename]
    assert set(roots[0]) == {"Id", "Name", "ContentLength", "ChildrenNumber", "Checksum", "Nodes"}
    assert roots[0]["Checksum"] == []  # a folder
    children = requests.get(roots[0]["Nodes"]["uri"], auth=DOWNLOADER, timeout=30).json()
    names = [n["Name"] for n in children["result"]]
    assert "manifest.safe" in names and len(names) == roots[0]["ChildrenNumber"]
    manifest = served.get(f"Products({product.id})/Nodes({product.filename})/"
                          f"Nodes(manifest.safe)/$value")  # fmt: skip
    assert manifest.status_code == 200 and manifest.content.startswith(b"<?xml")
    [listed] = [n for n in children["result"] if n["Name"] == "manifest.safe"]
    md5 = hashlib.md5(manifest.content).hexdigest()
    assert [(c["Algorithm"], c["Value"]) for c in listed["Checksum"]][0] == ("MD5", md5)
    leaf = served.get(f"Products({product.id})/Nodes({product.filename})/Nodes(manifest.safe)"
                      "/Nodes")  # fmt: skip
    assert leaf.json() == {"result": []}
    itself = served.get(f"Products({product.id})/Nodes({product.filename})").json()["result"]
    assert [(n["Name"], n["Nodes"]["uri"]) for n in itself] == [
        (product.filename, roots[0]["Nodes"]["uri"])
    ]


BAD_INPUT = [
    ("Products?$top=1001", 422, "less_than_equal", "$top"),
    ("Products?$top=-1", 422, "greater_than_equal", "$top"),
    ("Products?$top=ten", 422, "int_parsing", "$top"),
    ("Products?$skip=-3", 422, "greater_than_equal", "$skip"),
    ("Products?$count=maybe", 422, "bool_parsing", "$count"),
    ("Products?$orderby=Name desc", 422, "value_error", "$orderby"),
    ("Products?$expand=Nodes", 422, "value_error", "$expand"),
    ("Products?$select=Bogus", 422, "value_error", "$select"),
    ("Products?$skiptoken=not-a-token", 422, "value_error", "$skiptoken"),
    ("Products?$filter=Name eq", 422, "value_error", "$filter"),
    ("Products?$filter=Bogus eq 1", 422, "value_error", "$filter"),
    (
        "Products?$filter=Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'bogus' and "
        "a/Value eq 'x')",
        422,
        "value_error",
        "$filter",
    ),  # fmt: skip
    (
        "Products?$filter=Attributes/OData.CSC.DoubleAttribute/any(a:a/Name eq 'cloudCover' and "
        "a/Value le 'x')",
        422,
        "value_error",
        "$filter",
    ),  # fmt: skip
    (
        "Products?$filter=OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0,1 1,0 1,1 0,"
        "0 0))')",
        422,
        "value_error",
        "$filter",
    ),  # fmt: skip
    (
        "Products?$filter=OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0,1 1')",
        422,
        "value_error",
        "$filter",
    ),  # fmt: skip
    ("Products?$filter=" + "(" * 300 + "Online" + ")" * 300, 422, "value_error", "$filter"),
    ("Products?$filter=" + " or ".join(["Online"] * 2000), 422, "value_error", "$filter"),
    ("DeletedProducts?$filter=ContentDate/Start gt 'yesterday'", 422, "value_error", "$filter"),
    ("DeletedProducts?$filter=Online eq true", 422, "value_error", "$filter"),
    (
        "DeletedProducts?$filter=ContentDate/Start gt 2020-01-01T00:00:00Z or DeletionCause eq 'x'",
        422,
        "value_error",
        "$filter",
    ),
    (
        "DeletedProducts?$filter=Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'bogus' "
        "and a/Value eq 'x')",
        422,
        "value_error",
        "$filter",
    ),  # fmt: skip
    (
        "DeletedProducts?$filter=OData.CSC.Intersects(area=geography'SRID=4326;POINT(1 2)')",
        422,
        "value_error",
        "$filter",
    ),
    ("DeletedProducts?$orderby=ContentDate/Start", 422, "value_error", "$orderby"),
    ("Products(00000000-0000-0000-0000-000000000000)", 404, None, None),
    ("Products(not-a-uuid)", 404, None, None),
    ("Products(00000000-0000-0000-0000-000000000000)/$value", 404, None, None),
    ("Products(00000000-0000-0000-0000-000000000000)/Nodes", 404, None, None),
    ("DeletedProducts(00000000-0000-0000-0000-000000000000)", 404, None, None),
    ("Assets(00000000-0000-0000-0000-000000000000)/$value", 404, None, None),
    ("Bogus", 404, None, None),
    ("Products/Bogus/More", 404, None, None),
]


@pytest.mark.parametrize(("path", "status", "kind", "parameter"), BAD_INPUT,
                         ids=[b[0][:60] for b in BAD_INPUT])  # fmt: skip
def test_bad_input_gets_cdse_errors(
    served: Served, path: str, status: int, kind: str | None, parameter: str | None
) -> None:
    response = served.get(path)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if status == 422:
        [item] = detail
        assert item["type"] == kind and item["loc"] == ["query", parameter]
        assert item["msg"]
    else:
        assert set(detail) == {"message", "request_id"}
        uuid.UUID(detail["request_id"])


def test_skiptoken_of_another_order_is_refused(served: Served) -> None:
    first = served.get("Products?$top=5").json()
    token = first["@odata.nextLink"].split("%24skiptoken=")[1]
    response = served.get(f"Products?$orderby=ContentDate/Start desc&$skiptoken={token}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "$skiptoken"]


def test_filter_list_rejects_bad_bodies(served: Served) -> None:
    url = f"{served.url}/Products/OData.CSC.FilterList"
    for body in (b"{", b'{"FilterProducts": 3}', b'{"FilterProducts": [{"Name": 3}]}'):
        response = requests.post(url, data=body, auth=DOWNLOADER, timeout=30,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
        assert response.status_code == 422, body
