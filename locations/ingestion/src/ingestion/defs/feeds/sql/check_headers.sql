-- Per file of the batch, in order: its header's fields (NULL when the header line is not
-- UTF-8) and whether the file holds anything but blank lines (if not, it is an empty
-- delivery). Only a file with a blank first line needs its other lines looked at.
WITH headers AS (
    SELECT
        targets.file_id,
        targets.source_file,
        CASE WHEN lines.utf8 THEN csv_fields(lines.raw_line) END AS header,
        trim(coalesce(lines.raw_line, '')) = '' AS blank_header
    FROM landing_targets AS targets
    LEFT JOIN landing_lines AS lines
        ON lines.file_id = targets.file_id AND lines.line_number = 1
),
filled_later AS (
    SELECT DISTINCT file_id
    FROM landing_lines
    WHERE file_id IN (SELECT file_id FROM headers WHERE blank_header)
      AND trim(raw_line) <> ''
)
SELECT
    file_id,
    source_file,
    header,
    NOT blank_header OR file_id IN (SELECT file_id FROM filled_later) AS has_content
FROM headers
ORDER BY file_id;
