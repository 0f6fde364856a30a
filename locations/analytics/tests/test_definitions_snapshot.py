"""Everything the location declares, compared with its reviewed snapshot.

A change to an asset, check, job, schedule or sensor shows in
``__snapshots__/test_definitions_snapshot.ambr``; after review, ``pytest
--snapshot-update`` on this file writes the new one.
"""

from syrupy.assertion import SnapshotAssertion

from analytics.definitions import defs
from platform_shared.testing import definitions_snapshot


def test_definitions_match_the_snapshot(snapshot: SnapshotAssertion) -> None:
    assert definitions_snapshot(defs) == snapshot
