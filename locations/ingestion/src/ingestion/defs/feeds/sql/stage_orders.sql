-- orders/YYYY-MM-DD.csv: order_id, customer_id, order_ts, status.
-- Leaves `staged`, one row per data line of the batch (`file_id`, `line_number`): the
-- typed columns of ingestion.orders but order_date (the file's date, added by the load),
-- and `reason` (NULL = load it). Ids are unique per file, the file being one day.
CREATE OR REPLACE TEMP TABLE staged AS
WITH checked AS MATERIALIZED (
    SELECT
        file_id,
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
    FROM landing_fields(4)
),
-- Ids on more than one good line: a hash aggregate, cheaper than a window over every line.
repeated AS (
    SELECT file_id, order_id, min(line_number) AS first_line
    FROM checked WHERE problems IS NULL
    GROUP BY file_id, order_id HAVING count(*) > 1
)
SELECT
    checked.* EXCLUDE (problems),
    CASE
        WHEN problems IS NOT NULL THEN problems
        WHEN line_number > repeated.first_line
        THEN 'duplicate order_id (first seen on line ' || repeated.first_line || ')'
    END AS reason
FROM checked
LEFT JOIN repeated
    ON checked.problems IS NULL
   AND repeated.file_id = checked.file_id AND repeated.order_id = checked.order_id;
