"""CDSE ``$filter`` -> query tree, and the same filters run on real catalogues (SQLite and
PostGIS) against the reference evaluator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalogue_samples import T0, edge_products, make_product
from eohub.catalogue.service import Catalogue
from eohub.errors import InvalidGeometry, InvalidQuery
from eohub.model import Footprint, Product
from eohub.protocols.csc.filter import parse_filter
from eohub.query import evaluate
from eohub.query.normalize import normalize_query
from eohub.query.query import Query, SortKey
from eohub.query.tree import (
    And,
    Compare,
    CompareOp,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Spatial,
    SpatialOp,
)

D = datetime(2022, 5, 3, tzinfo=UTC)
S1_NAME = "S1A_IW_GRDH_1SDV_20240501T100000_20240501T100025_053000_066B1E_ABCD"

# The forms of cdse.md section 1.4, each with the tree it must give.
CASES: list[tuple[str, Node]] = [
    (f"Name eq '{S1_NAME}.SAFE'", Compare("filename", CompareOp.EQ, f"{S1_NAME}.SAFE")),
    ("contains(Name,'S1A')", Like("filename", "*S1A*")),
    ("startswith(Name,'S2A_MSIL2A')", Like("filename", "S2A_MSIL2A*")),
    ("endswith(Name,'.SAFE')", Like("filename", "*.SAFE")),
    ("contains(Name,'a*b')", Like("filename", "*a\\*b*")),
    ("Collection/Name eq 'SENTINEL-2'", Compare("collection", CompareOp.EQ, "SENTINEL-2")),
    (
        "ContentDate/Start gt 2022-05-03T00:00:00.000Z and ContentDate/Start lt "
        "2022-05-21T00:00:00.000Z",
        And(
            (
                Compare("sensing_start", CompareOp.GT, D),
                Compare("sensing_start", CompareOp.LT, datetime(2022, 5, 21, tzinfo=UTC)),
            )
        ),
    ),
    ("ContentDate/End le 2022-05-03T00:00:00Z", Compare("sensing_end", CompareOp.LE, D)),
    ("PublicationDate ge 2022-05-03", Compare("publication_date", CompareOp.GE, D)),
    ("ModificationDate gt 2022-05-03T00:00:00", Compare("modification_date", CompareOp.GT, D)),
    (
        "OriginDate lt 2022-05-03T00:00:00.000-04:00",
        Compare("ingestion_date", CompareOp.LT, D + timedelta(hours=4)),
    ),
    (
        "ContentDate/Start ge 2022-05-03T02:00:00+02:00",
        Compare("sensing_start", CompareOp.GE, D),
    ),
    ("Online eq true", Compare("online", CompareOp.EQ, True)),
    ("Online", Compare("online", CompareOp.EQ, True)),
    (
        "Id eq 5f1b0c8e-4c1a-5b7e-9a57-6e6f68756221",
        Compare(
            "id", CompareOp.EQ, __import__("uuid").UUID("5f1b0c8e-4c1a-5b7e-9a57-6e6f68756221")
        ),
    ),
    (
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'S2MSI2A')",
        Compare("product_type", CompareOp.EQ, "S2MSI2A"),
    ),
    (
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
        "att/OData.CSC.DoubleAttribute/Value le 40.00)",
        Compare("cloud_cover", CompareOp.LE, 40.0),
    ),
    (
        "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
        "att/OData.CSC.IntegerAttribute/Value eq 10844)",
        Compare("orbit_number", CompareOp.EQ, 10844),
    ),
    (
        "Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' and "
        "att/OData.CSC.DateTimeOffsetAttribute/Value gt 2024-01-01T00:00:00Z)",
        Compare("attributes.processingDate", CompareOp.GT, datetime(2024, 1, 1, tzinfo=UTC)),
    ),
    # Lenient forms: another variable name, no cast on Value, mismatched casts, reversed order.
    (
        "Attributes/OData.CSC.StringAttribute/any(i0:i0/Name eq 'orbitDirection' and "
        "i0/Value eq 'DESCENDING')",
        Compare("orbit_direction", CompareOp.EQ, "DESCENDING"),
    ),
    (
        "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'relativeOrbitNumber' and "
        "att/OData.CSC.StringAttribute/Value eq 22)",
        Compare("relative_orbit", CompareOp.EQ, 22),
    ),
    (
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'relativeOrbitNumber' and "
        "att/OData.CSC.IntegerAttribute/Value eq 22)",
        Compare("relative_orbit", CompareOp.EQ, 22),
    ),
    (
        "Attributes/OData.CSC.IntegerAttribute/any(x:x/Value ge 3 and x/Name eq 'cycleNumber')",
        Compare("attributes.cycleNumber", CompareOp.GE, 3),
    ),
    (
        "Attributes/OData.CSC.BooleanAttribute/any(a:a/Name eq 'sliceProductFlag' and "
        "a/OData.CSC.BooleanAttribute/Value eq true)",
        Compare("attributes.sliceProductFlag", CompareOp.EQ, True),
    ),
    (
        "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'tileId')",
        Not(IsNull("tile_id")),
    ),
    (
        "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'polarisationChannels' and "
        "a/Value eq 'VV&VH')",
        Compare("polarisation", CompareOp.EQ, "VV VH"),
    ),
    (
        "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'productType' and "
        "a/Value eq 'IW_GRDH_1S')",
        Or(
            (
                Compare("product_type", CompareOp.EQ, "IW_GRDH_1S"),
                And(
                    (
                        Compare("product_type", CompareOp.EQ, "GRD"),
                        Like("filename", "S1?_IW_GRDH_1S*"),
                    )
                ),
            )
        ),
    ),
    (
        "not (Collection/Name eq 'SENTINEL-2') and (Online eq true or Online eq false)",
        And(
            (
                Not(Compare("collection", CompareOp.EQ, "SENTINEL-2")),
                Or(
                    (
                        Compare("online", CompareOp.EQ, True),
                        Compare("online", CompareOp.EQ, False),
                    )
                ),
            )
        ),
    ),
]

SPATIAL = [
    "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((10.5 45.5, 12 45.5, 12 47, "
    "10.5 47, 10.5 45.5))')",
    "OData.CSC.Intersects(area=geography'SRID=4326;POINT(10.5 45.5)')",
    "OData.CSC.Intersects(Footprint=geography'SRID=4326;POINT(10.5 45.5)')",
    "OData.CSC.Intersects(area=geography'SRID=4326;MULTIPOLYGON(((10 45, 11 45, 11 46, 10 45)),"
    "((179.3 -17, 179.6 -17, 179.6 -16.5, 179.3 -17)))')",
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:70] for c in CASES])
def test_filter_forms_parse_to_the_expected_tree(text: str, expected: Node) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", SPATIAL)
def test_intersects_forms(text: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Spatial) and node.op is SpatialOp.INTERSECTS
    assert isinstance(node.geometry, Footprint)


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("Name eq", InvalidQuery, "position"),
        ("Bogus eq 1", InvalidQuery, "unknown property 'Bogus'"),
        (
            "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'bogus' and a/Value eq 'x')",
            InvalidQuery,
            "Invalid attribute name 'bogus'",
        ),
        (
            "Attributes/OData.CSC.DoubleAttribute/any(a:a/Name eq 'cloudCover' and "
            "a/Value le 'cloudy')",
            InvalidQuery,
            "expects a number",
        ),
        (
            "Attributes/OData.CSC.DateTimeOffsetAttribute/any(a:a/Name eq 'processingDate' "
            "and a/Value gt 12)",
            InvalidQuery,
            "expects a date",
        ),
        ("Attributes/OData.CSC.StringAttribute/any(a:a/Value eq 'x')", InvalidQuery, "exactly one"),
        (
            "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0, 1 1, 0 1, 1 0, 0 0))')",
            InvalidGeometry,
            "invalid geometry",
        ),  # fmt: skip
        (
            "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0, 1 1, 0 1')",
            InvalidGeometry,
            "WKT",
        ),  # fmt: skip
        ("OData.CSC.Intersects(area=geography'SRID=3857;POINT(1 1)')", InvalidQuery, "4326"),
        ("PublicationDate gt 'yesterday'", InvalidQuery, "expects a date"),
        ("Online eq 3", InvalidQuery, "true or false"),
        ("Id eq 'nope'", InvalidQuery, "UUID"),
        ("length(Name) eq 3", InvalidQuery, "length(...) cannot be compared"),
        ("length(Name)", InvalidQuery, "unknown function"),
        ("ContentLength add 1 eq 3", InvalidQuery, "cannot be compared"),
    ],
)
def test_bad_filters_name_the_problem(text: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as err:
        parse_filter(text)
    assert words in str(err.value)


def _s1(name: str, **changes: Any) -> Product:
    fields: dict[str, Any] = {
        "collection": "SENTINEL-1",
        "platform": "Sentinel-1A",
        "product_type": "GRD",
        "cloud_cover": None,
        "tile_id": None,
        "polarisation": "VV VH",
        "sensor_mode": "IW",
        "instrument": "SAR-C SAR",
        "attributes": {"productType": name[4:14], "cycleNumber": 301, "sliceProductFlag": True,
                       "processingDate": T0 + timedelta(days=1)},
    }  # fmt: skip
    return make_product(name, **(fields | changes))


def sample_products() -> list[Product]:
    out = edge_products()
    out.append(_s1(S1_NAME))
    out.append(_s1(S1_NAME.replace("GRDH", "SLC_"), product_type="SLC", start=T0 + timedelta(1)))
    out.append(make_product("S2A_MSIL2A_OFF", online=False, start=T0 - timedelta(days=2)))
    out.append(
        make_product(
            "S2B_MSIL1C_X",
            product_type="S2MSI1C",
            cloud_cover=55.0,
            start=datetime(2022, 5, 10, tzinfo=UTC),
            attributes={"processingDate": datetime(2023, 1, 1, tzinfo=UTC)},
        )
    )
    return out


RUN_ON_CATALOGUE = [text for text, _ in CASES] + SPATIAL


def test_filters_run_on_the_catalogue_as_the_reference_says(catalogue_backend: Any) -> None:
    products = sample_products()
    catalogue = Catalogue(catalogue_backend)
    catalogue.upsert(products)
    matched = 0
    for text in RUN_ON_CATALOGUE:
        query = Query(filter=parse_filter(text), sort=(SortKey("publication_date"),), limit=500)
        got = [p.id for p in catalogue.search(query).items]
        expected = [p.id for p in evaluate.search(normalize_query(query), products).items]
        assert got == expected, text
        matched += bool(got)
    # Most forms find something in the samples, so the comparison is not vacuous.
    assert matched >= len(RUN_ON_CATALOGUE) - 6
    s1 = parse_filter(
        "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'productType' and "
        "a/Value eq 'IW_GRDH_1S')"
    )
    found = catalogue.search(Query(filter=s1, limit=10)).items
    assert [p.name for p in found] == [S1_NAME]
    legacy = parse_filter(
        "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'productType' and a/Value eq 'GRD')"
    )
    assert [p.name for p in catalogue.search(Query(filter=legacy, limit=10)).items] == [S1_NAME]
