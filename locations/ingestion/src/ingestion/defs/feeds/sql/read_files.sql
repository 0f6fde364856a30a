-- The bytes of the batch's landing files (bound parameter: their validated paths or
-- s3:// URLs, in `landing_targets` order). sha256 and size describe exactly what this load reads,
-- whatever happens to a file afterwards. read_blob reports each one as it was given.
CREATE OR REPLACE TEMP TABLE landing_file AS
SELECT
    targets.file_id,
    blob.content,
    sha256(blob.content) AS sha256,
    octet_length(blob.content) AS size_bytes
FROM landing_targets AS targets
JOIN read_blob(?) AS blob ON blob.filename = targets.path;
