-- $1, $2: first and last sale_date checked.
SELECT sale_id, sale_date, quantity, unit_price, revenue
FROM transformation.enriched_sales
WHERE sale_date BETWEEN $1 AND $2
  AND revenue < 0
ORDER BY sale_date, sale_id
