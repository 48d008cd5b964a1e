-- eohub catalogue schema, version 1 (PostgreSQL >= 13 + PostGIS >= 3).
--
-- Text columns use COLLATE "C": strings compare and sort by code point (UTF-8 byte order),
-- and lower() folds ASCII letters only, as the reference evaluator does.
-- Timestamps are timestamptz (microseconds). `footprint` is the search geometry (planar
-- lon/lat, split at the antimeridian); `footprint_original` keeps the display shape as WKB.

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE products (
    id                  uuid PRIMARY KEY,
    name                text COLLATE "C" NOT NULL,
    filename            text COLLATE "C" NOT NULL,
    collection          text COLLATE "C" NOT NULL,
    platform            text COLLATE "C" NOT NULL,
    mission             text COLLATE "C" NOT NULL,        -- derived from platform
    platform_short_name text COLLATE "C" NOT NULL,        -- derived from platform
    platform_serial     text COLLATE "C",                 -- derived from platform
    product_type        text COLLATE "C" NOT NULL,
    sensing_start       timestamptz NOT NULL,
    sensing_end         timestamptz NOT NULL,
    publication_date    timestamptz NOT NULL,
    ingestion_date      timestamptz NOT NULL,
    modification_date   timestamptz NOT NULL,
    size                bigint NOT NULL,
    online              boolean NOT NULL,
    instrument          text COLLATE "C",
    processing_level    text COLLATE "C",
    processing_baseline text COLLATE "C",
    orbit_number        bigint,
    relative_orbit      bigint,
    orbit_direction     text COLLATE "C",
    cloud_cover         double precision,
    tile_id             text COLLATE "C",
    polarisation        text COLLATE "C",
    sensor_mode         text COLLATE "C",
    swath               text COLLATE "C",
    timeliness          text COLLATE "C",
    product_class       text COLLATE "C",
    footprint           geometry(Geometry, 4326),
    footprint_original  bytea,
    space_time          geometry(LineStringZM),           -- see spacetime.py
    checksums           jsonb NOT NULL DEFAULT '[]'::jsonb,
    text_tokens         text[] COLLATE "C" NOT NULL       -- eohub.query.text.product_tokens
);

CREATE UNIQUE INDEX products_name_key ON products (name);
CREATE INDEX products_footprint_gist ON products USING gist (footprint);
-- Place, time and platform together (4-D boxes, see spacetime.py): wide footprints match
-- nearly every spatial search in 2-D; with sensing time and platform as further axes a search
-- over one month of one platform reads only those rows. Searches add `space_time &&& window`.
CREATE INDEX products_space_time_gist ON products USING gist (space_time gist_geometry_ops_nd);
CREATE INDEX products_text_tokens_gin ON products USING gin (text_tokens);
CREATE INDEX products_sensing_idx ON products (sensing_start);
CREATE INDEX products_collection_sensing_idx ON products (collection, sensing_start);
CREATE INDEX products_mission_sensing_idx ON products (mission, sensing_start)
    INCLUDE (platform, cloud_cover);
CREATE INDEX products_platform_sensing_idx ON products (platform, sensing_start)
    INCLUDE (cloud_cover);
CREATE INDEX products_type_sensing_idx ON products (product_type, sensing_start);
CREATE INDEX products_ingestion_idx ON products (ingestion_date);
CREATE INDEX products_publication_idx ON products (publication_date);
CREATE INDEX products_cloud_idx ON products (cloud_cover);

-- Every metadata attribute, typed: one row per (product, name). `type` is the Python type
-- of the value (str, int, float, bool, datetime, naive = datetime without zone); ints, floats
-- and bools (as 0/1) share `num_value` (exact numeric) so that they compare as Python does.
-- No foreign key: its per-row check doubled the cost of bulk loads. The backend writes and
-- deletes a product and its attribute rows in one transaction, so none is ever orphaned.
CREATE TABLE product_attributes (
    product_id uuid NOT NULL,
    name       text COLLATE "C" NOT NULL,
    type       text NOT NULL
        CHECK (type IN ('str', 'int', 'float', 'bool', 'datetime', 'naive')),
    text_value text COLLATE "C",
    num_value  numeric,
    bool_value boolean,
    ts_value   timestamptz,
    PRIMARY KEY (product_id, name)
);

-- Equality lookups of string attributes by value (prefix of the value keeps index rows small).
CREATE INDEX product_attributes_text_idx ON product_attributes (name, left(text_value, 200));

-- Every text token ever stored (never pruned: a stale token only costs a lookup). A Text
-- search with a prefix (`msil2*`) looks up the tokens starting with it here, then tests
-- `text_tokens && those` with the GIN index instead of scanning every product's tokens.
CREATE TABLE text_vocabulary (
    token text COLLATE "C" PRIMARY KEY
);
