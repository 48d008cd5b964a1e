"""The domain model: plain frozen values, no I/O."""

from eohub.model.geometry import Footprint
from eohub.model.product import (
    AttributeValue,
    Checksum,
    Collection,
    Product,
    TimeRange,
    product_id_for,
    utc,
)
from eohub.model.user import Role, User

__all__ = [
    "AttributeValue",
    "Checksum",
    "Collection",
    "Footprint",
    "Product",
    "Role",
    "TimeRange",
    "User",
    "product_id_for",
    "utc",
]
