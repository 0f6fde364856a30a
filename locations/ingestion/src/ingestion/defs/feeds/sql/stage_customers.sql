-- customers.csv: customer_id, name, email, region, signup_date.
-- Leaves `staged`, one row per data line of the batch (`file_id`, `line_number`): the
-- typed columns of ingestion.customers, and `reason` (NULL = load it).
CREATE OR REPLACE TEMP TABLE staged AS
WITH checked AS (
    SELECT
        file_id,
        line_number,
        raw_line,
        parse_id(fields[1]) AS customer_id,
        fields[2] AS name,
        fields[3] AS email,
        fields[4] AS region,
        parse_date(fields[5]) AS signup_date,
        coalesce(problem, nullif(concat_ws('; ',
            id_problem('customer_id', fields[1]),
            text_problem('name', fields[2]),
            text_problem('email', fields[3]),
            CASE WHEN NOT missing(fields[3])
                      AND NOT regexp_full_match(fields[3], '[^@\s]+@[^@\s]+')
                 THEN 'email is not an address with one @' END,
            CASE WHEN missing(fields[4]) THEN 'missing region'
                 WHEN fields[4] NOT IN ('US', 'EU', 'APAC')
                 THEN 'region is not one of US, EU, APAC' END,
            date_problem('signup_date', fields[5])
        ), '')) AS problems
    FROM landing_fields(5)
)
SELECT
    * EXCLUDE (problems),
    CASE
        WHEN problems IS NOT NULL THEN problems
        -- The first good line of an id wins; later ones are rejected, pointing to it.
        WHEN line_number > min(line_number) OVER same_id
        THEN 'duplicate customer_id (first seen on line '
             || min(line_number) OVER same_id || ')'
    END AS reason
FROM checked
WINDOW same_id AS (PARTITION BY file_id, customer_id, problems IS NULL);
