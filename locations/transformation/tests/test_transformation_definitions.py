"""What must hold for every definition of the location; what it declares is in
``test_definitions_snapshot.py``."""

from transformation.definitions import defs


def test_no_asset_waits_for_a_pool() -> None:
    # The lake takes concurrent writers; a pool (one slot by default) would queue them.
    graph = defs.resolve_asset_graph()
    assert [key for key in graph.get_all_asset_keys() if graph.get(key).pools] == []
