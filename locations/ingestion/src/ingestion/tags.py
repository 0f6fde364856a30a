"""Run tags the file sensors set and the loads read back: which file versions a run loads."""

SOURCE_FILE_TAG = "ingestion/source_file"
SHA256_TAG = "ingestion/sha256"
# A range run's tag instead: sha256 of its "file sha256 delivery" lines.
MANIFEST_TAG = "ingestion/manifest_sha256"
