"""CDSE JSON entities and query options, framework-free."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from catalogue_samples import make_product
from eohub.model import Checksum
from eohub.model.deleted import DeletedProduct
from eohub.protocols.csc.entities import (
    PRODUCT_DOCUMENT,
    S3Paths,
    asset_product,
    context,
    deleted_entity,
    product_document_kind,
    product_entity,
    quicklook_id,
)
from eohub.protocols.csc.errors import OptionError
from eohub.protocols.csc.options import DEFAULT_TOP, ORDERABLE, parse_options
from eohub.query.query import SortKey

ROOT = "http://hub/catalogue/odata/v1"
WHEN = datetime(2024, 3, 16, 3, 18, 49, 857391, tzinfo=UTC)


def test_product_entity_golden() -> None:
    product = make_product(
        "S2A_MSIL2A_GOLDEN",
        checksums=(Checksum("BLAKE3", "AB" * 32, WHEN), Checksum("MD5", "CD" * 16, WHEN)),
        archive_key="products/S2A_MSIL2A_GOLDEN.zip",
        quicklook_key="previews/ql.jpg",
    )
    entity = product_entity(product, ROOT, ("Assets", "Locations"))
    asset = quicklook_id(product.id)
    assert entity == {
        "@odata.mediaContentType": "application/octet-stream",
        "Id": str(product.id),
        "Name": "S2A_MSIL2A_GOLDEN.SAFE",
        "ContentType": "application/octet-stream",
        "ContentLength": 812_345_678,
        "OriginDate": "2024-05-01T12:00:00.123456Z",
        "PublicationDate": "2024-05-01T13:00:00.123456Z",
        "ModificationDate": "2024-05-01T13:00:00.123456Z",
        "Online": True,
        "EvictionDate": "9999-12-31T23:59:59.999999Z",
        "S3Path": None,
        "Checksum": [
            {"Value": "cd" * 16, "Algorithm": "MD5", "ChecksumDate": "2024-03-16T03:18:49.857391Z"},
            {"Value": "ab" * 32, "Algorithm": "BLAKE3",
             "ChecksumDate": "2024-03-16T03:18:49.857391Z"},
        ],
        "ContentDate": {"Start": "2024-05-01T10:00:00.123456Z",
                        "End": "2024-05-01T10:00:03.123456Z"},
        "Footprint": "geography'SRID=4326;POLYGON ((10 45, 11.3 45, 11.3 46, 10 46, 10 45))'",
        "GeoFootprint": {"type": "Polygon", "coordinates": [[[10.0, 45.0], [11.3, 45.0],
                         [11.3, 46.0], [10.0, 46.0], [10.0, 45.0]]]},
        "Assets": [{"Type": "QUICKLOOK", "Id": str(asset),
                    "DownloadLink": f"{ROOT}/Assets({asset})/$value", "S3Path": None}],
        "Locations": [{"FormatType": "Extracted",
                       "DownloadLink": f"{ROOT}/Products({product.id})/$value",
                       "ContentLength": 812_345_678, "Checksum": entity["Checksum"],
                       "S3Path": None}],
    }  # fmt: skip
    assert asset_product(asset) == product.id != asset


def test_s3_paths_in_entities_and_stored_documents() -> None:
    product = make_product(
        "S2A_MSIL2A_S3",
        archive_key="ab/cd/x/S2A_MSIL2A_S3.zip",
        quicklook_key="ab/cd/x/quicklook.jpg",
    )
    s3 = S3Paths("eodata", "hub/")
    entity = product_entity(product, ROOT, ("Assets", "Locations"), s3=s3)
    assert entity["S3Path"] == "/eodata/hub/ab/cd/x/S2A_MSIL2A_S3.zip"
    assert entity["Locations"][0]["S3Path"] == entity["S3Path"]
    assert entity["Assets"][0]["S3Path"] == "/eodata/hub/ab/cd/x/quicklook.jpg"
    kind = product_document_kind(s3)
    assert orjson.loads(kind.render(product)) == product_entity(product, ROOT, s3=s3)
    # Stored documents of another archive are outdated: another version, same table.
    other = product_document_kind(S3Paths("eodata", "elsewhere/"))
    versions = {PRODUCT_DOCUMENT.version, kind.version, other.version}
    assert len(versions) == 3 and max(versions) < 2**31
    assert product_document_kind(None) is PRODUCT_DOCUMENT
    assert kind.name == other.name == PRODUCT_DOCUMENT.name
    offline = product.evolve(online=False)
    assert product_entity(offline, ROOT, s3=s3)["S3Path"] is None
    assert deleted_entity(DeletedProduct(product, WHEN), ROOT)["S3Path"] is None


def test_deleted_entity_and_contexts() -> None:
    product = make_product("S2A_MSIL2A_GONE")
    entity = deleted_entity(DeletedProduct(product, WHEN, "Corrupted product"), ROOT)
    keys = list(entity)
    assert keys.index("DeletionDate") == keys.index("EvictionDate") + 1
    assert entity["DeletionCause"] == "Corrupted product" and entity["Online"] is False
    assert context("Products") == "$metadata#Products"
    assert context("Products", ["Assets", "Attributes"], entity=True) == (
        "$metadata#Products(Attributes(),Assets())/$entity"
    )


def test_options_defaults_and_values() -> None:
    names = dict(expandable=("Attributes", "Assets"), selectable=("Name",))
    assert parse_options([], **names).top == DEFAULT_TOP  # type: ignore[arg-type]
    options = parse_options(
        [("$top", "1000"), ("$skip", "50000"), ("$count", "True"), ("$expand", "Attributes"),
         ("$expand", "Assets,Attributes"), ("$orderby", "ContentDate/Start desc"),
         ("$select", "Name")],
        **names,  # type: ignore[arg-type]
    )  # fmt: skip
    assert (options.top, options.skip, options.count) == (1000, 50000, True)
    assert options.expand == ("Attributes", "Assets")
    assert options.orderby == (SortKey(ORDERABLE["ContentDate/Start"], descending=True),)


def test_top_above_the_cap_is_pydantics_error() -> None:
    with pytest.raises(OptionError) as err:
        parse_options([("$top", "1001")], expandable=(), selectable=())
    assert (err.value.kind, err.value.ctx, err.value.value) == ("less_than_equal", {"le": 1000},
                                                                "1001")  # fmt: skip


def test_geojson_is_the_json_of_shapely_mapping() -> None:
    """The fast GeoJSON writes the same JSON as shapely's mapping, holes and antimeridian
    splits included."""
    from shapely.geometry import mapping

    from catalogue_samples import edge_products
    from eohub.demo import generate_products
    from eohub.protocols.csc.entities import geojson

    checked = 0
    for product in [*generate_products(300, seed=9), *edge_products()]:
        if product.footprint is not None:
            expected = orjson.dumps(mapping(product.footprint.search))
            assert orjson.dumps(geojson(product.footprint)) == expected, product.name
            checked += 1
    assert checked > 300
