"""Charts rendered to PNG for reports and materialization metadata."""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
from collections.abc import Sequence
from decimal import Decimal

from platform_shared.partitions import REGIONS

# A region keeps its colour from one report to the next, so readers learn them.
_REGION_COLOURS = {region: f"C{i}" for i, region in enumerate(REGIONS)}


def daily_revenue_chart(
    rows: Sequence[tuple[dt.date, str, Decimal | float]],
    *,
    start: dt.date,
    end: dt.date,
    title: str,
) -> bytes:
    """A line per region of revenue per day from ``start`` to ``end``, as PNG bytes.

    ``rows`` are ``(date, region, revenue)``. Rendering uses matplotlib's object API on the
    Agg canvas: no display, no global pyplot state shared between threads.
    """
    # Imported here, not at module level: matplotlib adds about a second to the start of
    # every code server, and only this function needs it.
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    x = mdates.date2num(days)
    # NaN where a region has no row: the line breaks there instead of bridging the gap.
    series: dict[str, list[float]] = {}
    position = {day: i for i, day in enumerate(days)}
    for day, region, revenue in rows:
        values = series.setdefault(region, [math.nan] * len(days))
        values[position[day]] = float(revenue)

    figure = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    order = [r for r in REGIONS if r in series] + sorted(r for r in series if r not in REGIONS)
    for i, region in enumerate(order):
        colour = _REGION_COLOURS.get(region, f"C{len(REGIONS) + i}")
        axes.plot(
            x, series[region], marker="o", markersize=3, linewidth=1.5, label=region, color=colour
        )
    if series:
        axes.legend(title="Region", loc="best")
    else:
        axes.text(
            0.5, 0.5, "No sales in this window", ha="center", va="center", transform=axes.transAxes
        )
        axes.set_yticks([])
    axes.xaxis_date()
    # The whole window is shown, so missing days read as gaps, not as a shorter period.
    axes.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    # Revenue starts at zero: a truncated axis makes small changes look dramatic.
    axes.set_ylim(bottom=0)
    axes.set_ylabel("Revenue")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()

    buffer = io.BytesIO()
    # Optimised PNG: the image also travels base64-encoded in the event log.
    figure.savefig(buffer, format="png", pil_kwargs={"optimize": True})
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown embedding ``png`` inline, which the UI renders in metadata."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
