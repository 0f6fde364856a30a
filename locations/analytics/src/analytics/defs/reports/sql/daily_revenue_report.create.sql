CREATE OR REPLACE TABLE analytics.daily_revenue_report (
    date         DATE          NOT NULL,
    region       VARCHAR       NOT NULL,
    orders       BIGINT        NOT NULL,
    units        BIGINT        NOT NULL,
    revenue      DECIMAL(18,2) NOT NULL,
    share_of_day DECIMAL(6,4)
)
