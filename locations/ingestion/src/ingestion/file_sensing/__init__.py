"""File sensors: a run per new or corrected landing file, none for a mere touch.

Each sensor keeps, per file, the content hash, size and mtime of the version it last
requested (or confirmed unchanged) in its cursor, a JSON document that survives daemon
restarts. A tick lists the folder and hashes only files whose (size, mtime) differ from
that record, so a tick costs a directory listing plus the reading of changed files.

* New or corrected content (a different sha256) gets exactly one run. Its run key names
  the file, the hash and the delivery number, so the daemon never launches it twice, and
  a file that returns to an earlier content (A, B, then A again) still reloads.
* A backlog (more than ``BULK_DELIVERY_FILES`` new versions of a feed in one tick, as
  when a history is delivered at once) gets one range run per contiguous stretch of
  days instead; its run key is a digest of every (file, hash, delivery number) it loads.
* Identical re-delivery, ``touch`` or ``cp -p`` of the same bytes: hashed, confirmed,
  no run. Nothing is filtered by mtime order, so a file arriving with an old mtime
  (``cp -p``) is still picked up.
* Files still being written are not read: temporary names are ignored, and a version
  counts only once it has settled, i.e. its (size, mtime) is unchanged since the
  previous tick, or, on first sight, untouched for ``QUIET_SECONDS``. A file younger
  than that (one just renamed into place) is looked at again within the same tick once
  it reaches that age, rather than a tick later.
* A file the cursor does not know (a reset or unreadable cursor) is compared with the
  newest run this sensor requested for it, or else with its partition's latest load:
  content already loaded is not loaded again, and a new version's run key follows on
  from the delivery numbers already used.
* Hostile names (quotes, newlines, ``..``, symlinks out of the folder) are skipped with
  one warning, and never reach the file system beyond the listing, nor SQL.

The sensors are defined in :mod:`ingestion.defs.sensors`; what they share is here:
``state`` (the cursor), ``tick`` (one evaluation and the settle rule), ``history`` (what
is recovered from the instance without a cursor), ``planning`` (run requests, backlogs).
"""
