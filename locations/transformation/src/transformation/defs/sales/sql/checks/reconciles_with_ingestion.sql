-- $1, $2: first and last sale_date checked.
-- Days where the line count or the revenue of enriched_sales differs from ingestion.sales:
-- lines were lost, duplicated (a snapshot with a repeated key fans the join out) or
-- priced differently.
WITH ingested AS (
    SELECT sale_date, count(*) AS lines, sum(quantity * unit_price) AS revenue
    FROM ingestion.sales
    WHERE sale_date BETWEEN $1 AND $2
    GROUP BY sale_date
),
enriched AS (
    SELECT sale_date, count(*) AS lines, sum(revenue) AS revenue
    FROM transformation.enriched_sales
    WHERE sale_date BETWEEN $1 AND $2
    GROUP BY sale_date
),
compared AS (
    SELECT
        coalesce(i.sale_date, e.sale_date) AS sale_date,
        coalesce(i.lines, 0)               AS ingested_lines,
        coalesce(e.lines, 0)               AS enriched_lines,
        coalesce(i.revenue, 0)             AS ingested_revenue,
        coalesce(e.revenue, 0)             AS enriched_revenue
    FROM ingested AS i
    FULL OUTER JOIN enriched AS e ON e.sale_date = i.sale_date
)
SELECT *
FROM compared
WHERE ingested_lines <> enriched_lines OR ingested_revenue <> enriched_revenue
ORDER BY sale_date
