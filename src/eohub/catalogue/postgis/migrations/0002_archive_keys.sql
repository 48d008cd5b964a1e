-- Where this hub keeps each product's bytes and previews (archive keys; NULL = none here).
ALTER TABLE products
    ADD COLUMN archive_key   text COLLATE "C",
    ADD COLUMN quicklook_key text COLLATE "C",
    ADD COLUMN thumbnail_key text COLLATE "C";
