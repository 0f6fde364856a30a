"""Every definition of the analytics location, found by walking this package.

Each published table is rebuilt in full from transformation's tables by the two SQL files
in its area's ``sql/`` (:meth:`platform_shared.sql.SqlFolder.rebuild_table`) in one
warehouse transaction, and reports what it published as materialization metadata.
Freshness deadlines are business wall-clock times in the platform's timezone; the comment
at each policy names the schedule that meets it.
"""
