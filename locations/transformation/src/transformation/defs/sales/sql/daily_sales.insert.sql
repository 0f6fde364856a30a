-- $1, $2: first and last date being replaced. A day without sales gets no row.
INSERT INTO transformation.daily_sales BY NAME
SELECT
    sale_date                AS date,
    count(DISTINCT order_id) AS orders,
    sum(quantity)            AS units,
    sum(revenue)             AS revenue
FROM transformation.enriched_sales
WHERE sale_date BETWEEN $1 AND $2
GROUP BY sale_date
