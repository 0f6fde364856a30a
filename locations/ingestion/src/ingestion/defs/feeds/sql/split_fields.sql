-- Data lines (after the header, blank lines skipped) split into fields, with the reason
-- a line cannot be parsed at all; `field_count` is how many fields a line must have.
-- A table macro rather than a table: the staging query streams through it instead of
-- writing every line's fields down first. Created once `landing_lines` exists (a macro
-- binds its tables when it is created).
CREATE OR REPLACE TEMP MACRO landing_fields(field_count) AS TABLE
WITH parsed AS (
    SELECT file_id, line_number, raw_line, utf8, csv_fields(raw_line) AS fields
    FROM landing_lines
    WHERE line_number > 1 AND trim(raw_line) <> ''
)
SELECT
    file_id,
    line_number,
    raw_line,
    fields,
    CASE
        WHEN NOT utf8 THEN 'line is not valid UTF-8'
        WHEN regexp_matches(raw_line, '[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]')
            THEN 'line contains control characters'
        WHEN fields IS NULL THEN 'unparseable CSV line (unbalanced or unterminated quotes)'
        WHEN len(fields) <> field_count
            THEN 'expected ' || field_count || ' fields, found ' || len(fields)
    END AS problem
FROM parsed;
