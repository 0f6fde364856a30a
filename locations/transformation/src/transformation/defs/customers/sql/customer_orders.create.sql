CREATE TABLE IF NOT EXISTS transformation.customer_orders (
    customer_id    BIGINT    NOT NULL,
    name           VARCHAR,
    region         VARCHAR,
    order_count    BIGINT    NOT NULL,
    first_order_ts TIMESTAMP,
    last_order_ts  TIMESTAMP
)
