-- One row per region over every loaded sale line. "orders" counts distinct orders, as in
-- transformation's tables; the share is of the revenue of all regions together. Lines of
-- customers missing from the snapshot have no region: they form a NULL-region row, so the
-- rows still add up to the total revenue.
INSERT INTO analytics.sales_summary BY NAME
WITH by_region AS (
    SELECT
        region,
        count(DISTINCT order_id) AS orders,
        sum(quantity)            AS units,
        sum(revenue)             AS revenue
    FROM transformation.enriched_sales
    GROUP BY region
)
SELECT
    region,
    orders,
    units,
    revenue,
    round(revenue / orders, 2)                           AS avg_order_value,
    round(revenue / nullif(sum(revenue) OVER (), 0), 4)  AS revenue_share
FROM by_region
