"""THE internal query model: one tree for every query language and every backend."""

from eohub.query.fields import FIELDS, Field, FieldType, Protocol, attribute_field
from eohub.query.normalize import normalize_query
from eohub.query.query import MAX_LIMIT, CountMode, Cursor, Page, Query, SortKey
from eohub.query.tree import (
    MATCH_ALL,
    MATCH_NONE,
    And,
    Compare,
    CompareOp,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Range,
    Spatial,
    SpatialOp,
    Text,
    and_,
    or_,
)

__all__ = [
    "FIELDS", "MATCH_ALL", "MATCH_NONE", "MAX_LIMIT", "And", "Compare", "CompareOp",
    "CountMode", "Cursor", "Field", "FieldType", "In", "IsNull", "Like", "Node", "Not", "Or",
    "Page", "Protocol", "Query", "Range", "SortKey", "Spatial", "SpatialOp", "Text",
    "and_", "attribute_field", "normalize_query", "or_",
]  # fmt: skip
