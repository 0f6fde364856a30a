"""Instance plumbing shared by every process that opens the Dagster instance."""
