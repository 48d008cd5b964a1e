"""Queryables: a JSON Schema of the properties filters may use (OGC API Features part 3)."""

from __future__ import annotations

from typing import Any

from eohub.protocols.stac import collections, cql2
from eohub.query.fields import FieldType

JSON_SCHEMA = "https://json-schema.org/draft/2019-09/schema"
_TYPES: dict[FieldType, dict[str, Any]] = {
    FieldType.STRING: {"type": "string"},
    FieldType.INT: {"type": "integer"},
    FieldType.FLOAT: {"type": "number"},
    FieldType.BOOL: {"type": "boolean"},
    FieldType.UUID: {"type": "string", "format": "uuid"},
    FieldType.DATETIME: {"type": "string", "format": "date-time"},
    FieldType.GEOMETRY: {"$ref": "https://geojson.org/schema/Geometry.json"},
}


def queryables(url: str, collection_id: str | None = None) -> dict[str, Any]:
    """The queryables document served at ``url`` (of one collection, or of every one)."""
    ids = [collection_id] if collection_id else [c.id for c in collections.TABLE]
    properties: dict[str, Any] = {
        "collection": {"description": "STAC collection id", "type": "string", "enum": ids},
    }
    for name in cql2.property_names():
        field = cql2.find_property(name)
        if field is None or name in properties:
            continue
        schema = dict(_TYPES[field.type])
        schema["description"] = field.description
        properties[name] = schema
    return {
        "$schema": JSON_SCHEMA,
        "$id": url,
        "type": "object",
        "title": f"Queryables of {collection_id}" if collection_id else "Queryables",
        "properties": properties,
        "additionalProperties": False,
    }
