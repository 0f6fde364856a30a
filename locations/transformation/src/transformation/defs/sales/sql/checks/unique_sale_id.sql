-- $1, $2: first and last sale_date checked.
-- sale_ids of the checked days that occur more than once anywhere in the table: a line
-- repeated within a day or across days would be counted twice by every total.
-- One aggregate over the table (no semi-join of the table with itself): an id qualifies
-- when it has more than one line and at least one of them is in the checked days.
SELECT sale_id, count(*) AS copies, min(sale_date) AS first_date, max(sale_date) AS last_date
FROM transformation.enriched_sales
GROUP BY sale_id
HAVING count(*) > 1 AND bool_or(sale_date BETWEEN $1 AND $2)
ORDER BY sale_id
