"""The analytics location's resources: its own links into the UI, and every resource its
runs get."""

from __future__ import annotations

from urllib.parse import quote

import dagster as dg

from platform_shared.resources import exports, warehouse
from platform_shared.settings import env


class PlatformLinks(dg.ConfigurableResource):
    """Builds links into the Dagster UI for materialization metadata.

    The base URL differs per deployment, so it comes from ``DAGSTER_WEBSERVER_URL`` when
    a run starts, never from the code.
    """

    webserver_url: str

    def asset_url(self, key: dg.AssetKey) -> str:
        path = "/".join(quote(part, safe="") for part in key.path)
        return f"{self.webserver_url.rstrip('/')}/assets/{path}"


def platform_links() -> PlatformLinks:
    return PlatformLinks(webserver_url=env("DAGSTER_WEBSERVER_URL"))


# Built when the code server loads; each one reads its settings when a run starts.
RESOURCES = {"warehouse": warehouse(), "exports": exports(), "links": platform_links()}
