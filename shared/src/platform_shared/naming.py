"""Asset keys and warehouse table names: a key ``[location, name]`` is table ``location.name``."""

from __future__ import annotations

from dagster import AssetKey


def asset_key(location: str, name: str) -> AssetKey:
    """The key of another team's asset: ``[location, name]``."""
    return AssetKey([location, name])


def table_name(key: AssetKey) -> str:
    """Quoted ``schema.table`` for an asset key of the form ``[location, name]``."""
    if len(key.path) != 2:
        raise ValueError(f"asset key {key.to_user_string()} is not [location, name]")
    schema, table = key.path
    return f'"{schema}"."{table}"'


def write_scope(table: str, first: object = None, last: object = None) -> str:
    """What a write replaces, for its messages: the table, and its partitions if any."""
    if first is None:
        return table
    span = str(first) if last is None or last == first else f"{first}..{last}"
    return f"{table} partitions {span}"


def group_name(location: str, purpose: str) -> str:
    """Group names carry the location so the global asset graph stays readable."""
    return f"{location}_{purpose}"
