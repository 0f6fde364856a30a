-- $1, $2: first and last sale_date checked.
-- Sale lines whose product or customer is not in ingestion's current snapshot.
SELECT sale_id, sale_date, product_id, customer_id, unknown_product, unknown_customer
FROM (
    SELECT
        e.sale_id,
        e.sale_date,
        e.product_id,
        e.customer_id,
        NOT EXISTS (
            SELECT 1 FROM ingestion.products AS p WHERE p.product_id = e.product_id
        ) AS unknown_product,
        NOT EXISTS (
            SELECT 1 FROM ingestion.customers AS c WHERE c.customer_id = e.customer_id
        ) AS unknown_customer
    FROM transformation.enriched_sales AS e
    WHERE e.sale_date BETWEEN $1 AND $2
)
WHERE unknown_product OR unknown_customer
ORDER BY sale_date, sale_id
