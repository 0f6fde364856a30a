-- $1, $2: first and last date being replaced; $3: the regions being replaced.
-- "orders" counts distinct orders per region and day; an order whose lines belong to one
-- customer falls in exactly one region.
INSERT INTO transformation.regional_daily_sales BY NAME
SELECT
    sale_date                AS date,
    region,
    count(DISTINCT order_id) AS orders,
    sum(quantity)            AS units,
    sum(revenue)             AS revenue
FROM transformation.enriched_sales
WHERE sale_date BETWEEN $1 AND $2
  AND list_contains($3, region)
GROUP BY sale_date, region
