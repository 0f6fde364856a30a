"""Move the workspace to another Dagster release: the pins, and the tested-versions list.

Every Dagster package is pinned once, in the root ``pyproject.toml`` under
``[tool.uv] constraint-dependencies``; the members name them without a version. Core
packages carry the release's version (1.13.27), the integration libraries its 0.x twin
(0.29.27). The release is also added to the versions the pooled instance storage accepts
(``platform_instance.dagster_private``), because the tests that `make upgrade-dagster`
runs next are what makes it a tested version. Usage: ``python deploy/upgrade_dagster.py
1.13.28`` from the repository root (``make upgrade-dagster VERSION=1.13.28`` also relocks,
syncs and tests).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CORE: tuple[str, ...] = ("dagster", "dagster-dg-cli", "dagster-graphql", "dagster-webserver")
LIBRARIES: tuple[str, ...] = (
    "dagster-aws",
    "dagster-duckdb",
    "dagster-duckdb-pandas",
    "dagster-k8s",
    "dagster-postgres",
)
# Dagster releases its libraries as 0.(minor + 16).patch alongside 1.minor.patch.
LIBRARY_MINOR_OFFSET = 16
PINS = Path("pyproject.toml")
FENCE = Path("deploy/instance/src/platform_instance/dagster_private.py")


def library_version(core: str) -> str:
    match = re.fullmatch(r"1\.(\d+)\.(\d+)", core)
    if not match:
        raise SystemExit(f"not a Dagster 1.x release: {core!r} (expected e.g. 1.13.28)")
    minor, patch = int(match[1]), int(match[2])
    return f"0.{minor + LIBRARY_MINOR_OFFSET}.{patch}"


def bump_pins(text: str, core: str) -> str:
    versions = dict.fromkeys(CORE, core) | dict.fromkeys(LIBRARIES, library_version(core))
    found: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        found.add(match[1])
        return f'"{match[1]}=={versions[match[1]]}"'

    names = "|".join(re.escape(n) for n in sorted(versions, key=len, reverse=True))
    text = re.sub(rf'"({names})==[^"]+"', replace, text)
    missing = set(versions) - found
    if missing:
        raise SystemExit(f"{PINS}: no pin for {', '.join(sorted(missing))}")
    return text


def add_tested(text: str, core: str) -> str:
    match = re.search(r"^TESTED_DAGSTER_VERSIONS = \(([^)]*)\)$", text, flags=re.MULTILINE)
    if not match:
        raise SystemExit(f"{FENCE}: TESTED_DAGSTER_VERSIONS not found")
    tested = [v.strip().strip('"') for v in match[1].split(",") if v.strip()]
    if core not in tested:
        tested.append(core)
    items = ", ".join(f'"{v}"' for v in tested)
    # The formatter's spelling, so that the file stays formatted.
    line = f"TESTED_DAGSTER_VERSIONS = ({items}{',' if len(tested) == 1 else ''})"
    return text[: match.start()] + line + text[match.end() :]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: upgrade_dagster.py VERSION", file=sys.stderr)
        return 2
    core = argv[0]
    PINS.write_text(bump_pins(PINS.read_text(), core))
    FENCE.write_text(add_tested(FENCE.read_text(), core))
    print(f"Dagster {core}, libraries {library_version(core)}: {PINS} and {FENCE} updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
