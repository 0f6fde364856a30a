-- products.csv: product_id, name, category, unit_price.
-- Leaves `staged`, one row per data line of the batch (`file_id`, `line_number`): the
-- typed columns of ingestion.products, and `reason` (NULL = load it).
CREATE OR REPLACE TEMP TABLE staged AS
WITH checked AS (
    SELECT
        file_id,
        line_number,
        raw_line,
        parse_id(fields[1]) AS product_id,
        fields[2] AS name,
        fields[3] AS category,
        parse_money(fields[4]) AS unit_price,
        coalesce(problem, nullif(concat_ws('; ',
            id_problem('product_id', fields[1]),
            text_problem('name', fields[2]),
            text_problem('category', fields[3]),
            money_problem('unit_price', fields[4]),
            CASE WHEN parse_money(fields[4]) < 0 THEN 'unit_price is negative' END
        ), '')) AS problems
    FROM landing_fields(4)
)
SELECT
    * EXCLUDE (problems),
    CASE
        WHEN problems IS NOT NULL THEN problems
        WHEN line_number > min(line_number) OVER same_id
        THEN 'duplicate product_id (first seen on line '
             || min(line_number) OVER same_id || ')'
    END AS reason
FROM checked
WINDOW same_id AS (PARTITION BY file_id, product_id, problems IS NULL);
