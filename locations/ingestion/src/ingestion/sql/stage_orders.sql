-- orders/YYYY-MM-DD.csv: order_id, customer_id, order_ts, status.
-- Leaves `staged`: the typed columns of ingestion.orders but order_date (the file's date,
-- added by the load), and `reason` (NULL = load it).
CREATE OR REPLACE TEMP TABLE staged AS
WITH checked AS (
    SELECT
        line_number,
        raw_line,
        parse_id(fields[1]) AS order_id,
        parse_id(fields[2]) AS customer_id,
        parse_timestamp(fields[3]) AS order_ts,
        fields[4] AS status,
        coalesce(problem, nullif(concat_ws('; ',
            id_problem('order_id', fields[1]),
            id_problem('customer_id', fields[2]),
            timestamp_problem('order_ts', fields[3]),
            text_problem('status', fields[4])
        ), '')) AS problems
    FROM landing_fields
)
SELECT
    * EXCLUDE (problems),
    CASE
        WHEN problems IS NOT NULL THEN problems
        WHEN line_number > min(line_number) OVER (PARTITION BY order_id, problems IS NULL)
        THEN 'duplicate order_id (first seen on line '
             || min(line_number) OVER (PARTITION BY order_id, problems IS NULL) || ')'
    END AS reason
FROM checked;
