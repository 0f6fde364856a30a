-- What the batch did, one row per file in order: content hash and size, data lines,
-- loaded and rejected lines, blank lines between data lines (the empty text after a final
-- newline is not a line) and the five most frequent reasons for rejecting a line.
WITH ends AS (
    SELECT file_id, max(line_number) AS last FROM landing_lines GROUP BY file_id
),
lines AS (
    SELECT file_id, count(*) AS blank_lines
    FROM landing_lines JOIN ends USING (file_id)
    WHERE line_number > 1 AND line_number < last AND trim(raw_line) = ''
    GROUP BY file_id
),
outcome AS (
    SELECT
        file_id,
        count(*) AS data_lines,
        count(*) FILTER (WHERE reason IS NULL) AS loaded,
        count(*) FILTER (WHERE reason IS NOT NULL) AS rejected
    FROM staged
    GROUP BY file_id
),
reasons AS (
    SELECT file_id, list(struct_pack(reason, n) ORDER BY n DESC, reason) AS top_reasons
    FROM (
        SELECT file_id, reason, count(*) AS n
        FROM staged WHERE reason IS NOT NULL
        GROUP BY file_id, reason
        QUALIFY row_number() OVER (PARTITION BY file_id ORDER BY n DESC, reason) <= 5
    )
    GROUP BY file_id
)
SELECT
    targets.file_id,
    landing_file.sha256,
    landing_file.size_bytes,
    coalesce(outcome.data_lines, 0),
    coalesce(outcome.loaded, 0),
    coalesce(outcome.rejected, 0),
    coalesce(lines.blank_lines, 0),
    coalesce(reasons.top_reasons, [])
FROM landing_targets AS targets
JOIN landing_file USING (file_id)
LEFT JOIN lines USING (file_id)
LEFT JOIN outcome USING (file_id)
LEFT JOIN reasons USING (file_id)
ORDER BY targets.file_id;
