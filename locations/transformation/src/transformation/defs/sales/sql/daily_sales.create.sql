CREATE TABLE IF NOT EXISTS transformation.daily_sales (
    date    DATE          NOT NULL,
    orders  BIGINT        NOT NULL,
    units   BIGINT        NOT NULL,
    revenue DECIMAL(18,2) NOT NULL
)
