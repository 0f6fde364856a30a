"""Shared set-up of the deployment tests.

The tests are parametrised by the code locations of workspace.yaml (never a hard-coded
list), so a location added by the scaffold is checked like the others from its first run.
"""

from __future__ import annotations

import pytest

from tests.deploy.deploy_support import workspace_locations


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "location" in metafunc.fixturenames:
        locations = workspace_locations()
        metafunc.parametrize("location", locations, ids=[loc.name for loc in locations])
