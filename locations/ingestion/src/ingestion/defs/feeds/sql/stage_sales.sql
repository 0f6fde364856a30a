-- sales/YYYY-MM-DD.csv: sale_id, order_id, customer_id, product_id, quantity, unit_price,
-- sale_ts. Leaves `staged`, one row per data line of the batch (`file_id`,
-- `line_number`): the typed columns of ingestion.sales but sale_date (the file's date,
-- added by the load), and `reason` (NULL = load it). Ids are unique per file.
CREATE OR REPLACE TEMP TABLE staged AS
WITH checked AS MATERIALIZED (
    SELECT
        file_id,
        line_number,
        raw_line,
        parse_id(fields[1]) AS sale_id,
        parse_id(fields[2]) AS order_id,
        parse_id(fields[3]) AS customer_id,
        parse_id(fields[4]) AS product_id,
        parse_integer(fields[5]) AS quantity,
        parse_money(fields[6]) AS unit_price,
        parse_timestamp(fields[7]) AS sale_ts,
        coalesce(problem, nullif(concat_ws('; ',
            id_problem('sale_id', fields[1]),
            id_problem('order_id', fields[2]),
            id_problem('customer_id', fields[3]),
            id_problem('product_id', fields[4]),
            integer_problem('quantity', fields[5]),
            CASE WHEN parse_integer(fields[5]) <= 0 THEN 'quantity is not positive' END,
            money_problem('unit_price', fields[6]),
            CASE WHEN parse_money(fields[6]) < 0 THEN 'unit_price is negative' END,
            timestamp_problem('sale_ts', fields[7])
        ), '')) AS problems
    FROM landing_fields(7)
),
-- Ids on more than one good line: a hash aggregate, cheaper than a window over every line.
repeated AS (
    SELECT file_id, sale_id, min(line_number) AS first_line
    FROM checked WHERE problems IS NULL
    GROUP BY file_id, sale_id HAVING count(*) > 1
)
SELECT
    checked.* EXCLUDE (problems),
    CASE
        WHEN problems IS NOT NULL THEN problems
        -- The first good line of an id wins; later ones are rejected, pointing to it.
        WHEN line_number > repeated.first_line
        THEN 'duplicate sale_id (first seen on line ' || repeated.first_line || ')'
    END AS reason
FROM checked
LEFT JOIN repeated
    ON checked.problems IS NULL
   AND repeated.file_id = checked.file_id AND repeated.sale_id = checked.sale_id;
