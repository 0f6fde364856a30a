-- products.csv: product_id, name, category, unit_price.
-- Leaves `staged`: the typed columns of ingestion.products, and `reason` (NULL = load it).
CREATE OR REPLACE TEMP TABLE staged AS
WITH checked AS (
    SELECT
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
    FROM landing_fields
)
SELECT
    * EXCLUDE (problems),
    CASE
        WHEN problems IS NOT NULL THEN problems
        WHEN line_number > min(line_number) OVER (PARTITION BY product_id, problems IS NULL)
        THEN 'duplicate product_id (first seen on line '
             || min(line_number) OVER (PARTITION BY product_id, problems IS NULL) || ')'
    END AS reason
FROM checked;
