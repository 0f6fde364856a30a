CREATE OR REPLACE TABLE analytics.sales_summary (
    region          VARCHAR,
    orders          BIGINT        NOT NULL,
    units           BIGINT        NOT NULL,
    revenue         DECIMAL(18,2) NOT NULL,
    avg_order_value DECIMAL(18,2) NOT NULL,
    revenue_share   DECIMAL(6,4)
)
