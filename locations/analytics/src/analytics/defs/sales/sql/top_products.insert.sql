-- The best-selling products by revenue (ties broken by product id so the ranking is
-- stable). Name and category are those of the product's latest sale, in case the
-- catalogue renamed or re-categorised it; the share is of all products' revenue.
-- $1: how many products to keep.
INSERT INTO analytics.top_products BY NAME
WITH by_product AS (
    SELECT
        product_id,
        arg_max(product_name, sale_ts) AS product_name,
        arg_max(category, sale_ts)     AS category,
        count(DISTINCT order_id)       AS orders,
        sum(quantity)                  AS units,
        sum(revenue)                   AS revenue
    FROM transformation.enriched_sales
    GROUP BY product_id
)
SELECT
    row_number() OVER (ORDER BY revenue DESC, product_id)  AS rank,
    product_id,
    product_name,
    category,
    orders,
    units,
    revenue,
    round(revenue / nullif(sum(revenue) OVER (), 0), 4)     AS revenue_share
FROM by_product
QUALIFY rank <= $1
