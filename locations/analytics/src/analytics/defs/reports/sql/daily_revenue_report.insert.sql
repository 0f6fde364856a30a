-- The report window of regional daily revenue, with each region's share of the day.
-- $1, $2: first and last day of the window (inclusive).
INSERT INTO analytics.daily_revenue_report BY NAME
SELECT
    date,
    region,
    orders,
    units,
    revenue,
    round(revenue / nullif(sum(revenue) OVER (PARTITION BY date), 0), 4) AS share_of_day
FROM transformation.regional_daily_sales
WHERE date BETWEEN $1 AND $2
