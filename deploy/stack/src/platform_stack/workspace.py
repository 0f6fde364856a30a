"""The code locations of the workspace, read from ``workspace.yaml``.

Tooling derives everything per-location (environments, ports, service names) from this
one file, so a location added by the scaffold is picked up without another list to edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Location:
    name: str
    host_var: str
    port_var: str

    @property
    def module(self) -> str:
        return f"{self.name}.definitions"


def _env_name(value: object, field: str, location: str) -> str:
    if isinstance(value, dict) and set(value) == {"env"}:
        return str(value["env"])
    raise ValueError(f"workspace.yaml: {location}.{field} must be read from the environment")


def read_locations(workspace_file: Path) -> list[Location]:
    config = yaml.safe_load(workspace_file.read_text())
    locations = []
    for entry in config.get("load_from", []):
        server = entry["grpc_server"]
        name = server["location_name"]
        locations.append(
            Location(
                name=name,
                host_var=_env_name(server.get("host"), "host", name),
                port_var=_env_name(server.get("port"), "port", name),
            )
        )
    return locations
