CREATE OR REPLACE TABLE analytics.customer_lifetime_value (
    customer_id         BIGINT        NOT NULL,
    name                VARCHAR,
    region              VARCHAR,
    orders              BIGINT        NOT NULL,
    revenue             DECIMAL(18,2) NOT NULL,
    first_purchase_date DATE,
    last_purchase_date  DATE,
    avg_order_value     DECIMAL(18,2)
)
