-- Deleted products keep their searchable values (eohub.catalogue.deleted_values) for
-- ContentDate and attribute filters. Rows recorded before get theirs from the stored product
-- when the catalogue is migrated (the partial index finds them).
ALTER TABLE deleted_products ADD COLUMN search jsonb;

CREATE INDEX deleted_products_unsearchable_idx ON deleted_products (id) WHERE search IS NULL;
