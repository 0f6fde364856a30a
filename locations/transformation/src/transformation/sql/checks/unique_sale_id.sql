-- $1, $2: first and last sale_date checked.
-- sale_ids of the checked days that occur more than once anywhere in the table: a line
-- repeated within a day or across days would be counted twice by every total.
SELECT sale_id, count(*) AS copies, min(sale_date) AS first_date, max(sale_date) AS last_date
FROM transformation.enriched_sales
WHERE sale_id IN (
    SELECT sale_id FROM transformation.enriched_sales WHERE sale_date BETWEEN $1 AND $2
)
GROUP BY sale_id
HAVING count(*) > 1
ORDER BY sale_id
