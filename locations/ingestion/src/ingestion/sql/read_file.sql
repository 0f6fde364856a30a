-- The bytes of one landing file (bound parameter: its validated path). sha256 and size
-- describe exactly what this load reads, whatever happens to the file afterwards.
CREATE OR REPLACE TEMP TABLE landing_file AS
SELECT content, sha256(content) AS sha256, octet_length(content) AS size_bytes
FROM read_blob(?);
