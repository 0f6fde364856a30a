-- Per file of the batch, in order: its header's fields (NULL when the header line is not
-- UTF-8) and how many lines hold anything at all (0 = an empty delivery).
SELECT
    targets.file_id,
    targets.source_file,
    any_value(CASE WHEN lines.utf8 THEN csv_fields(lines.raw_line) END)
        FILTER (WHERE lines.line_number = 1) AS header,
    count(*) FILTER (WHERE trim(lines.raw_line) <> '') AS non_blank
FROM landing_targets AS targets
LEFT JOIN landing_lines AS lines USING (file_id)
GROUP BY targets.file_id, targets.source_file
ORDER BY targets.file_id;
