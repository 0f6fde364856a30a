"""Load a location's ``defs`` package the way ``dg`` projects do, in every install.

``dg.load_from_defs_folder`` finds the project through its ``pyproject.toml``, which a
location's wheel (what the images install) does not carry. The component tree it builds
needs only the ``defs`` module itself, so the same loading works from the source tree, an
editable install and a wheel alike.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import dagster as dg


def load_defs_folder(defs: ModuleType) -> dg.Definitions:
    """Every definition under ``defs`` (the package ``<location>.defs``), found by walking it."""
    folders = list(getattr(defs, "__path__", []))
    if defs.__file__ is None or len(folders) != 1:
        raise ValueError(f"{defs.__name__} is not a regular package")
    location = defs.__name__.partition(".")[0]
    tree = dg.ComponentTree(
        defs_module=defs, project_root=Path(folders[0]), code_location_name=location
    )
    return tree.build_defs()
