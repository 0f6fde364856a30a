-- $1, $2: first and last sale_date being replaced.
-- One row per ingested sale line. The LEFT JOINs keep a line whose product or customer is
-- missing from the snapshots (with NULL attributes), so the referential-integrity check
-- reports it instead of the line vanishing from every total. Revenue uses the price the
-- line was sold at, not the catalogue price.
INSERT INTO transformation.enriched_sales BY NAME
SELECT
    s.sale_id,
    s.order_id,
    s.customer_id,
    s.product_id,
    p.name                                           AS product_name,
    p.category,
    c.region,
    s.quantity,
    s.unit_price,
    CAST(s.quantity * s.unit_price AS DECIMAL(18,2)) AS revenue,
    s.sale_ts,
    s.sale_date
FROM ingestion.sales AS s
LEFT JOIN ingestion.products  AS p ON p.product_id = s.product_id
LEFT JOIN ingestion.customers AS c ON c.customer_id = s.customer_id
WHERE s.sale_date BETWEEN $1 AND $2
