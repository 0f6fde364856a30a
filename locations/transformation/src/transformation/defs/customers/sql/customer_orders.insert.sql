-- Every customer of the snapshot, with or without orders: a customer who never ordered has
-- order_count 0 and NULL timestamps. Orders of unknown customers are left out.
INSERT INTO transformation.customer_orders BY NAME
SELECT
    c.customer_id,
    c.name,
    c.region,
    count(DISTINCT o.order_id) AS order_count,
    min(o.order_ts)            AS first_order_ts,
    max(o.order_ts)            AS last_order_ts
FROM ingestion.customers AS c
LEFT JOIN ingestion.orders AS o ON o.customer_id = c.customer_id
GROUP BY c.customer_id, c.name, c.region
