-- The change feed: one row per product created, modified or deleted, written in the same
-- transaction as the change. Writers take a transaction-level advisory lock just before they
-- append (see changes.py), so sequence numbers are assigned in commit order and a reader that
-- has seen seq N never later finds a smaller one. No index on `at`: pruning is rare, and every
-- index costs each ingested product one more insert.
CREATE TABLE changes (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event      text NOT NULL CHECK (event IN ('created', 'modified', 'deleted')),
    product_id uuid NOT NULL,
    name       text COLLATE "C" NOT NULL,
    at         timestamptz NOT NULL
);
