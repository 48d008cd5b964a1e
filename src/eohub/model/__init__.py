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
from eohub.model.user import ANONYMOUS, DEFAULT_ROLES, Quota, Role, User

__all__ = [
    "AttributeValue",
    "Checksum",
    "Collection",
    "Footprint",
    "Product",
    "ANONYMOUS",
    "DEFAULT_ROLES",
    "Quota",
    "Role",
    "TimeRange",
    "User",
    "product_id_for",
    "utc",
]
