-- The physical lines of each file in `landing_file`, numbered from 1 (the header); `utf8`
-- is false for a line holding bytes that are not UTF-8.
CREATE OR REPLACE TEMP TABLE landing_lines AS
WITH decoded AS (
    SELECT file_id, content, try(decode(content)) AS text FROM landing_file
),
-- The normal case: the whole file is UTF-8, split its text (no per-line lambda).
utf8_lines AS (
    SELECT file_id, generate_subscripts(lines, 1) AS line_number, unnest(lines) AS line,
           true AS utf8
    FROM (SELECT file_id, string_split(text, chr(10)) AS lines
          FROM decoded WHERE text IS NOT NULL)
),
split AS (
    SELECT file_id, CASE
        -- Otherwise split the bytes, so that a bad byte costs its line, not the file:
        -- written as "XX " per byte, the newline byte "0A " cannot match across bytes. A
        -- line that is not UTF-8 keeps its bytes, shown as text with \xNN escapes.
        WHEN text IS NULL THEN [
            {'line': coalesce(try(decode(b)), CAST(b AS VARCHAR)),
             'utf8': try(decode(b)) IS NOT NULL}
            FOR b IN [
                unhex(replace(regexp_replace(h, '0D $', ''), ' ', ''))
                FOR h IN string_split(regexp_replace(hex(content), '(..)', '\1 ', 'g'), '0A ')
            ]
        ]
    END AS lines
    FROM decoded
),
numbered AS (
    SELECT * FROM utf8_lines
    UNION ALL
    SELECT file_id, generate_subscripts(lines, 1) AS line_number, unnest(lines, recursive := true)
    FROM split WHERE lines IS NOT NULL
)
SELECT
    file_id,
    line_number,
    -- CRLF endings lose their CR; the header may carry a byte-order mark.
    CASE WHEN line_number = 1 THEN ltrim(rtrim(line, chr(13)), chr(65279))
         ELSE rtrim(line, chr(13)) END AS raw_line,
    utf8
FROM numbered;
