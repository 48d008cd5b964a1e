-- Products deleted without purge (DHuS DeletedProducts), one row per Id. `product` is the whole
-- product as eohub.catalogue.document bytes; pages run in (deletion_date, id) or (name, id)
-- order on their own index.
CREATE TABLE deleted_products (
    id             uuid PRIMARY KEY,
    name           text COLLATE "C" NOT NULL,
    deletion_date  timestamptz NOT NULL,
    deletion_cause text COLLATE "C",
    product        bytea NOT NULL
);

CREATE INDEX deleted_products_date_idx ON deleted_products (deletion_date, id);
CREATE INDEX deleted_products_name_idx ON deleted_products (name, id);
