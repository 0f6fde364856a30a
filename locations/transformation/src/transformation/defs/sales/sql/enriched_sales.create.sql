-- No primary key on sale_id: a duplicate from upstream is reported by the uniqueness
-- check (count and sample rows) rather than aborting the load with a constraint error.
CREATE TABLE IF NOT EXISTS transformation.enriched_sales (
    sale_id      BIGINT        NOT NULL,
    order_id     BIGINT        NOT NULL,
    customer_id  BIGINT        NOT NULL,
    product_id   BIGINT        NOT NULL,
    product_name VARCHAR,
    category     VARCHAR,
    region       VARCHAR,
    quantity     INTEGER       NOT NULL,
    unit_price   DECIMAL(12,2) NOT NULL,
    revenue      DECIMAL(18,2) NOT NULL,
    sale_ts      TIMESTAMP,
    sale_date    DATE          NOT NULL
)
