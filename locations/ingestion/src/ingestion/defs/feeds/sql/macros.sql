-- Parsing and validation rules shared by the staging queries (temporary: this connection).
--
-- parse_* return the typed value, or NULL when the text is not in the contract's format.
-- The formats are stricter than a cast on purpose: a cast would accept '1.5' as the id 2,
-- '0x10' as 16, or a timestamp with an offset it silently drops.
CREATE OR REPLACE TEMP MACRO parse_id(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(v, '[0-9]{1,18}') THEN v END AS BIGINT);

CREATE OR REPLACE TEMP MACRO parse_integer(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(v, '[+-]?[0-9]{1,9}') THEN v END AS INTEGER);

CREATE OR REPLACE TEMP MACRO parse_money(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(v, '[+-]?[0-9]{1,10}(\.[0-9]{1,2})?') THEN v END
             AS DECIMAL(12, 2));

CREATE OR REPLACE TEMP MACRO parse_timestamp(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(
                 v, '[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?')
             THEN v END AS TIMESTAMP);

CREATE OR REPLACE TEMP MACRO parse_date(v) AS
    TRY_CAST(CASE WHEN regexp_full_match(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN v END AS DATE);

-- *_problem return why a field is refused, or NULL. Empty means missing.
CREATE OR REPLACE TEMP MACRO missing(v) AS coalesce(v, '') = '';

CREATE OR REPLACE TEMP MACRO text_problem(name, v) AS
    CASE WHEN missing(v) THEN 'missing ' || name END;

CREATE OR REPLACE TEMP MACRO id_problem(name, v) AS
    CASE
        WHEN missing(v) THEN 'missing ' || name
        WHEN parse_id(v) IS NULL THEN name || ' is not a valid id'
    END;

CREATE OR REPLACE TEMP MACRO integer_problem(name, v) AS
    CASE
        WHEN missing(v) THEN 'missing ' || name
        WHEN parse_integer(v) IS NULL THEN name || ' is not an integer'
    END;

CREATE OR REPLACE TEMP MACRO money_problem(name, v) AS
    CASE
        WHEN missing(v) THEN 'missing ' || name
        WHEN parse_money(v) IS NULL THEN name || ' is not an amount with at most 2 decimals'
    END;

CREATE OR REPLACE TEMP MACRO timestamp_problem(name, v) AS
    CASE
        WHEN missing(v) THEN 'missing ' || name
        WHEN parse_timestamp(v) IS NULL THEN name || ' is not a valid YYYY-MM-DD HH:MM:SS timestamp'
    END;

CREATE OR REPLACE TEMP MACRO date_problem(name, v) AS
    CASE
        WHEN missing(v) THEN 'missing ' || name
        WHEN parse_date(v) IS NULL THEN name || ' is not a valid YYYY-MM-DD date'
    END;

-- The fields of one CSV line: comma separated, a field may be double-quoted (a quote
-- inside is doubled). NULL when quotes do not balance, e.g. an unterminated quote.
-- Unquoted fields are trimmed; a quoted field is kept as written between its quotes.
CREATE OR REPLACE TEMP MACRO csv_fields(line) AS
    CASE
        -- The common line: ASCII (trim also strips Unicode spaces), no quote and no space
        -- next to a separator. Trimming would change nothing, so a plain split; the
        -- per-field lambda costs more than the whole parse.
        WHEN strlen(line) = length(line) AND NOT contains(line, '"')
             AND NOT contains(line, ' ,') AND NOT contains(line, ', ')
             AND NOT starts_with(line, ' ') AND NOT ends_with(line, ' ')
            THEN string_split(line, ',')
        WHEN NOT contains(line, '"') THEN [trim(f) FOR f IN string_split(line, ',')]
        WHEN regexp_full_match(
            line, '(?:[ ]*"(?:[^"]|"")*"[ ]*|[^,"]*)(?:,(?:[ ]*"(?:[^"]|"")*"[ ]*|[^,"]*))*')
        THEN [
            CASE WHEN starts_with(trim(f), '"') THEN replace(trim(f)[2:-2], '""', '"')
                 ELSE trim(f) END
            -- A leading comma makes every field consume one, so empty fields are kept.
            FOR f IN regexp_extract_all(',' || line, ',([ ]*"(?:[^"]|"")*"[ ]*|[^,"]*)', 1)
        ]
    END;
