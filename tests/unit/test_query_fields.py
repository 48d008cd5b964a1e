"""The field registry: canonical names, protocol aliases, types and getters."""

from __future__ import annotations

from collections import Counter

import pytest

from catalogue_samples import bare_product, make_product
from eohub.errors import InvalidQuery
from eohub.query import FIELDS, FieldType, Protocol, attribute_field


@pytest.mark.parametrize(
    ("protocol", "alias", "name"),
    [
        ("dhus", "beginposition", "sensing_start"),
        ("dhus", "beginPosition", "sensing_start"),
        ("dhus", "PLATFORMNAME", "mission"),
        ("dhus", "cloudcoverpercentage", "cloud_cover"),
        ("dhus", "uuid", "id"),
        ("dhus", "identifier", "name"),
        ("odata", "ContentDate/Start", "sensing_start"),
        ("odata", "IngestionDate", "ingestion_date"),
        ("odata", "Name", "name"),
        ("cdse", "Name", "filename"),
        ("cdse", "cloudCover", "cloud_cover"),
        ("cdse", "OriginDate", "ingestion_date"),
        ("cdse", "platformShortName", "platform_short_name"),
        ("stac", "eo:cloud_cover", "cloud_cover"),
        ("stac", "datetime", "sensing_start"),
        ("stac", "id", "name"),
        ("stac", "sat:relative_orbit", "relative_orbit"),
        (Protocol.STAC, "geometry", "footprint"),
    ],
)
def test_aliases_resolve_to_one_canonical_field(protocol: str, alias: str, name: str) -> None:
    assert FIELDS.resolve(protocol, alias).name == name
    assert FIELDS.find(protocol, alias) is FIELDS.get(name)


def test_an_alias_of_one_protocol_is_unknown_to_another() -> None:
    assert FIELDS.find("stac", "beginposition") is None
    with pytest.raises(InvalidQuery) as info:
        FIELDS.resolve("stac", "beginposition")
    assert info.value.field == "beginposition"
    assert "datetime" in info.value.choices and "eo:cloud_cover" in info.value.choices
    assert "beginposition" not in info.value.choices


def test_unknown_protocol_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        FIELDS.resolve("wcs", "x")


def test_aliases_are_unique_within_each_protocol() -> None:
    for protocol in Protocol:
        counts = Counter(a.lower() for a in FIELDS.aliases(protocol))
        assert [a for a, n in counts.items() if n > 1] == [], protocol


def test_every_field_reads_a_value_of_its_type() -> None:
    full = make_product("S2A_X", attributes={}, swath="S1", polarisation="VV",
                        timeliness="NRT-3h", product_class="S")  # fmt: skip
    bare = bare_product("S5P_Y")
    py_types = {
        FieldType.STRING: str, FieldType.INT: int, FieldType.FLOAT: float,
        FieldType.BOOL: bool, FieldType.UUID: object, FieldType.DATETIME: object,
        FieldType.GEOMETRY: object,
    }  # fmt: skip
    for field in FIELDS:
        value = field.get(full)
        assert value is not None, field.name
        assert isinstance(value, py_types[field.type]), field.name
        if not field.nullable:
            assert field.get(bare) is not None, field.name
    assert FIELDS.get("mission").get(full) == "Sentinel-2"
    assert FIELDS.get("platform_serial").get(full) == "A"
    assert FIELDS.get("platform_serial").get(bare) is None
    assert FIELDS.get("platform_short_name").get(bare) == "SENTINEL-5P"


def test_attribute_fields() -> None:
    p = make_product("A", attributes={"origin": "ESA", "n": 3})
    field = FIELDS.get("attributes.origin")
    assert field.is_attribute and field.attribute_name == "origin"
    assert field.type is FieldType.STRING and field.nullable and not field.sortable
    assert field.get(p) == "ESA" and FIELDS.get("attributes.none").get(p) is None
    assert attribute_field("n", FieldType.INT).get(p) == 3
    with pytest.raises(InvalidQuery):
        attribute_field("shape", FieldType.GEOMETRY)
    assert "attributes.origin" not in FIELDS and "cloud_cover" in FIELDS


def test_sortable_fields() -> None:
    sortable = {f.name for f in FIELDS if f.sortable}
    assert {"id", "name", "sensing_start", "ingestion_date", "cloud_cover", "size"} <= sortable
    assert not {"footprint", "online", "instrument"} & sortable
