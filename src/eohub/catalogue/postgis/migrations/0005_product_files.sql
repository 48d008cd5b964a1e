-- The checksums of the files inside each product's archive object (eohub.catalogue.files):
-- one row per product, naming the object it describes; kept across upserts (ON CONFLICT
-- updates keep the product row) and removed with the product.
CREATE TABLE product_files (
    id          uuid PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
    archive_key text COLLATE "C" NOT NULL,
    computed_at timestamptz NOT NULL,
    body        bytea NOT NULL
);
