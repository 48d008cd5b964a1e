"""Deleted products as DHuS ``DeletedProduct`` entities, and the catalogue query of a request.

Properties follow DHuS (``olingo/v1/entity/DeletedProduct.java``): ``CreationDate`` is the
publication in this hub, ``FootPrint`` the GML footprint (``lat,lon`` pairs, as
``ContentGeometry`` of Products), ``Size`` the bytes, ``Checksum`` the MD5 upper-case. The
feed is ordered by ``DeletionDate`` then ``Id`` unless ``$orderby`` says otherwise.
"""

from __future__ import annotations

import uuid

from eohub.model.deleted import DeletedProduct
from eohub.protocols.dhus.odata_v1.deleted_filter import parse_deleted_filter
from eohub.protocols.dhus.odata_v1.edm import DELETED_PRODUCT, Edm, Entity, Prop, quote_key
from eohub.protocols.dhus.odata_v1.entities import gml_footprint, md5_of
from eohub.protocols.dhus.odata_v1.options import DEFAULT_TOP, Options
from eohub.query.deleted import DEFAULT_DELETED_SORT, DeletedFilter, DeletedQuery
from eohub.query.query import CountMode


def deleted_path(product_id: uuid.UUID | str) -> str:
    """``DeletedProducts('<id>')``."""
    return f"DeletedProducts({quote_key(str(product_id))})"


def deleted_entity(deleted: DeletedProduct) -> Entity:
    """The DeletedProduct entity of a deletion record."""
    product = deleted.product
    md5 = md5_of(product)
    return Entity(
        DELETED_PRODUCT,
        deleted_path(product.id),
        [
            Prop("Id", Edm.STRING, str(product.id)),
            Prop("Name", Edm.STRING, product.name),
            Prop("CreationDate", Edm.DATETIME, product.publication_date),
            Prop("FootPrint", Edm.STRING, gml_footprint(product.footprint)),
            Prop("Size", Edm.INT64, product.size),
            Prop("IngestionDate", Edm.DATETIME, product.ingestion_date),
            Prop(
                "ContentDate",
                Edm.TIME_RANGE,
                (
                    Prop("Start", Edm.DATETIME, product.sensing.start),
                    Prop("End", Edm.DATETIME, product.sensing.end),
                ),
            ),
            Prop("DeletionDate", Edm.DATETIME, deleted.deletion_date),
            Prop("DeletionCause", Edm.STRING, deleted.deletion_cause),
            Prop(
                "Checksum",
                Edm.CHECKSUM,
                (
                    Prop("Algorithm", Edm.STRING, "MD5" if md5 else None),
                    Prop("Value", Edm.STRING, md5),
                ),
            ),
        ],
        title=product.name,
    )


def deleted_query(options: Options) -> DeletedQuery:
    """The catalogue query of a ``DeletedProducts`` feed request."""
    return DeletedQuery(
        filter=parse_deleted_filter(options.filter) if options.filter else DeletedFilter(),
        sort=options.orderby or DEFAULT_DELETED_SORT,
        limit=DEFAULT_TOP if options.top is None else options.top,
        offset=options.skip,
        count=CountMode.EXACT if options.inlinecount else CountMode.NONE,
    )
