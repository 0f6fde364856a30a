"""The contracts between locations: every key a location borrows from another team is
materialized by that team, with the same partitions.

A location's own tests run in its own environment, where no other location is installed
(``make test-<location>``), so the checks that need two locations' definitions live here.
"""

from __future__ import annotations

import importlib
from functools import cache

import dagster as dg
import pytest

from platform_stack.workspace import read_locations
from tests.deploy.deploy_support import ROOT

LOCATIONS = [loc.name for loc in read_locations(ROOT / "workspace.yaml")]


@cache
def _defs(location: str) -> dg.Definitions:
    return importlib.import_module(f"{location}.definitions").defs


def _borrowed(defs: dg.Definitions) -> set[dg.AssetKey]:
    """Keys a location declares but does not materialize, or watches with a sensor."""
    graph = defs.resolve_asset_graph()
    keys = {k for k in graph.get_all_asset_keys() if not graph.get(k).is_materializable}
    for sensor in defs.sensors or []:
        if isinstance(sensor, dg.AssetSensorDefinition):
            keys.add(sensor.asset_key)
    return keys


def test_every_location_borrows_from_another_team_only() -> None:
    for location in LOCATIONS:
        for key in _borrowed(_defs(location)):
            owner = key.path[0]
            assert owner in LOCATIONS, f"{location}: {key.to_user_string()} has no owner"
            assert owner != location, f"{location}: borrows its own {key.to_user_string()}"


@pytest.mark.parametrize("location", LOCATIONS)
def test_borrowed_keys_are_materialized_by_their_owner(location: str) -> None:
    ours = _defs(location).resolve_asset_graph()
    for key in sorted(_borrowed(_defs(location))):
        theirs = _defs(key.path[0]).resolve_asset_graph()
        name = key.to_user_string()
        assert theirs.has(key), f"{location} reads {name}, which its owner does not define"
        owner = theirs.get(key)
        assert owner.is_materializable, f"{name} is not materialized by its owner"
        if not ours.has(key):
            continue  # watched by a sensor only: no partitions declared here
        mine = ours.get(key)
        assert mine.partitions_def == owner.partitions_def, name
        if "partition_expr" in mine.metadata:
            assert mine.metadata["partition_expr"] == owner.metadata.get("partition_expr"), name


def test_the_contract_covers_the_chain() -> None:
    """The three teams are chained: what each borrows comes from the team upstream."""
    owners = {loc: {k.path[0] for k in _borrowed(_defs(loc))} for loc in LOCATIONS}
    assert owners["ingestion"] == set()
    assert owners["transformation"] == {"ingestion"}
    assert owners["analytics"] == {"transformation"}
