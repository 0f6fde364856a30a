-- The ingestion schema: the tables other teams read (their contract) and the quarantine.
-- Every column is typed here, never inferred from a file.
CREATE SCHEMA IF NOT EXISTS ingestion;

CREATE TABLE IF NOT EXISTS ingestion.customers (
    customer_id BIGINT NOT NULL,
    name        VARCHAR NOT NULL,
    email       VARCHAR NOT NULL,
    region      VARCHAR NOT NULL,
    signup_date DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS ingestion.products (
    product_id BIGINT NOT NULL,
    name       VARCHAR NOT NULL,
    category   VARCHAR NOT NULL,
    unit_price DECIMAL(12, 2) NOT NULL
);

CREATE TABLE IF NOT EXISTS ingestion.orders (
    order_id    BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    order_ts    TIMESTAMP NOT NULL,
    status      VARCHAR NOT NULL,
    order_date  DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS ingestion.sales (
    sale_id     BIGINT NOT NULL,
    order_id    BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    product_id  BIGINT NOT NULL,
    quantity    INTEGER NOT NULL,
    unit_price  DECIMAL(12, 2) NOT NULL,
    sale_ts     TIMESTAMP NOT NULL,
    sale_date   DATE NOT NULL
);

-- One row per data line a load refused. partition_key is NULL for snapshot assets.
CREATE TABLE IF NOT EXISTS ingestion.rejected_rows (
    asset         VARCHAR NOT NULL,
    partition_key VARCHAR,
    source_file   VARCHAR NOT NULL,
    line_number   BIGINT NOT NULL,
    raw_line      VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL,
    rejected_at   TIMESTAMP NOT NULL
);
