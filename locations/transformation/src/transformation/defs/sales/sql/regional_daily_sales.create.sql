CREATE TABLE IF NOT EXISTS transformation.regional_daily_sales (
    date    DATE          NOT NULL,
    region  VARCHAR       NOT NULL,
    orders  BIGINT        NOT NULL,
    units   BIGINT        NOT NULL,
    revenue DECIMAL(18,2) NOT NULL
)
