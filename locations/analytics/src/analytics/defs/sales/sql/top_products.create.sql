CREATE OR REPLACE TABLE analytics.top_products (
    rank          INTEGER       NOT NULL,
    product_id    BIGINT        NOT NULL,
    product_name  VARCHAR,
    category      VARCHAR,
    orders        BIGINT        NOT NULL,
    units         BIGINT        NOT NULL,
    revenue       DECIMAL(18,2) NOT NULL,
    revenue_share DECIMAL(6,4)
)
