-- One row per customer known to transformation: every customer of the snapshot
-- (customer_orders) and any customer that only appears on sale lines. A customer without
-- a sale line has zero orders and revenue and no average order value. The region is the
-- customer's current one when known.
INSERT INTO analytics.customer_lifetime_value BY NAME
WITH purchases AS (
    SELECT
        customer_id,
        arg_max(region, sale_ts) AS region,
        count(DISTINCT order_id) AS orders,
        sum(revenue)             AS revenue,
        min(sale_date)           AS first_purchase_date,
        max(sale_date)           AS last_purchase_date
    FROM transformation.enriched_sales
    GROUP BY customer_id
)
SELECT
    customer_id,
    c.name,
    coalesce(c.region, p.region)  AS region,
    coalesce(p.orders, 0)         AS orders,
    coalesce(p.revenue, 0)        AS revenue,
    p.first_purchase_date,
    p.last_purchase_date,
    round(p.revenue / p.orders, 2) AS avg_order_value
FROM transformation.customer_orders AS c
FULL OUTER JOIN purchases AS p USING (customer_id)
