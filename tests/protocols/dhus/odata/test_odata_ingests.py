"""The OData v1 ``Ingests`` codec: keys, PUT bodies, entity rendering."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from eohub.ingest.upload_registry import IngestRecord, IngestStatus
from eohub.protocols.dhus.odata_v1 import json_format
from eohub.protocols.dhus.odata_v1.errors import ODataError
from eohub.protocols.dhus.odata_v1.ingests import (
    ingest_entity,
    parse_ingest_key,
    parse_ingest_update,
)


@pytest.mark.parametrize(("text", "expected"), [("(5)", 5), ("(5L)", 5), ("(Id=12L)", 12)])
def test_keys(text: str, expected: int) -> None:
    assert parse_ingest_key(text) == expected


@pytest.mark.parametrize("text", ["('5')", "(-1)", "(5.0)", "()", "(1)(2)", "x"])
def test_bad_keys_are_404(text: str) -> None:
    with pytest.raises(ODataError) as caught:
        parse_ingest_key(text)
    assert caught.value.status == 404


@pytest.mark.parametrize(
    "body",
    [
        b'{"Filename": "S1A_X.zip", "TargetCollections": ["a", "b"]}',
        b'{"d": {"Filename": "S1A_X.zip", "TargetCollections": [{"Name": "a"}, {"Name": "b"}]}}',
        b'{"d": {"Filename": "S1A_X.zip", "TargetCollections": {"results": ["a", "b"]}}}',
        b'{"Filename": "S1A_X.zip", "TargetCollections": "a, b"}',
    ],
)
def test_json_bodies(body: bytes) -> None:
    assert parse_ingest_update(body, "application/json") == ("S1A_X.zip", ("a", "b"))


def test_atom_body() -> None:
    body = (
        b'<entry xmlns="http://www.w3.org/2005/Atom"'
        b' xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
        b' xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices">'
        b'<link rel="http://schemas.microsoft.com/ado/2007/08/dataservices/related/'
        b"TargetCollections\" href=\"Collections('It''s')\"/>"
        b'<content type="application/xml"><m:properties><d:Filename>S1A_X.zip</d:Filename>'
        b"</m:properties></content></entry>"
    )
    assert parse_ingest_update(body, "application/atom+xml") == ("S1A_X.zip", ("It's",))


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'{"Filename": 3}', b"{}", b'{"Filename": "a", "TargetCollections": 1}'],
)
def test_bad_bodies_are_400(body: bytes) -> None:
    with pytest.raises(ODataError) as caught:
        parse_ingest_update(body, "application/json")
    assert caught.value.status == 400


def test_entity_json() -> None:
    record = IngestRecord(
        id=7,
        status=IngestStatus.ERROR,
        status_date=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        status_message="product rejected: corrupt",
        filename="S1A_X.zip",
        md5="0" * 32,
        size=10,
        uploader="alice",
        target_collections=("c1",),
    )
    document = orjson.loads(json_format.entry_document(ingest_entity(record), "http://h/odata/v1"))
    entity = document["d"]
    assert entity["__metadata"]["uri"] == "http://h/odata/v1/Ingests(7L)"
    assert entity["__metadata"]["type"] == "DHuS.Ingest"
    assert (entity["Id"], entity["Status"], entity["Uploader"]) == ("7", "ERROR", "alice")
    assert entity["StatusDate"] == "/Date(1704164645000)/"
    assert [c["Name"] for c in entity["TargetCollections"]["results"]] == ["c1"]
