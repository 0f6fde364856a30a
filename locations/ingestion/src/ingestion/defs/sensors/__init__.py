"""File sensors (one run per new or corrected landing file) and the orphaned-run sensor.

What they share, the cursor, the settle rule and backlog planning, is in
:mod:`ingestion.file_sensing`.
"""
