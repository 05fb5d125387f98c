"""Small inline-SVG charts (no JavaScript): bars, daily columns, a rehearsal's timeline,
lines over time (a load run's latency and throughput).

Each function returns markup that is safe to insert: every label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape


def bars(items: Sequence[tuple[str, float]], *, unit: str = "", width: int = 360) -> Markup:
    """Horizontal bars, one per (label, value)."""
    if not items:
        return Markup('<p class="muted">nothing yet</p>')
    top = max((v for _, v in items), default=0) or 1
    row, label_w = 22, 110
    height = row * len(items) + 4
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}">'
    ]
    for i, (label, value) in enumerate(items):
        y = i * row + 2
        w = max(1.0, (width - label_w - 60) * value / top) if value else 0
        parts.append(
            f'<text x="0" y="{y + 14}" class="label">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="14" rx="2" class="bar"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" class="value">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(values: Sequence[int], *, width: int = 360, height: int = 70) -> Markup:
    """One column per value (e.g. production deployments per day), oldest left."""
    if not values:
        return Markup("")
    top = max(values) or 1
    step = width / len(values)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height + 14}" width="{width}"'
        f' height="{height + 14}">'
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" class="axis"/>'
    ]
    for i, value in enumerate(values):
        h = (height - 4) * value / top
        parts.append(
            f'<rect x="{i * step + 1:.1f}" y="{height - h:.1f}" width="{max(1.0, step - 2):.1f}"'
            f' height="{h:.1f}" class="bar"><title>{value}</title></rect>'
        )
    parts.append(
        f'<text x="0" y="{height + 12}" class="label">{len(values)} days ago</text>'
        f'<text x="{width}" y="{height + 12}" class="label" text-anchor="end">today</text></svg>'
    )
    return Markup("".join(parts))


def timeline(rehearsal: dict[str, Any], *, width: int = 760) -> Markup:
    """A migration rehearsal's lock spans (per relation and mode) and probe stalls (per
    table), on one time axis in milliseconds since the upgrade started."""
    rows: list[tuple[str, str, list[tuple[float, float]]]] = []
    spans: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for lock in rehearsal.get("locks") or []:
        key = (str(lock.get("relation")), str(lock.get("mode")))
        spans.setdefault(key, []).append((float(lock["start"]), float(lock["end"])))
    for (relation, mode), windows in spans.items():
        kind = "lock-exclusive" if "Exclusive" in mode and "Row" not in mode else "lock"
        rows.append((f"{relation} {mode}", kind, windows))
    for stall in rehearsal.get("stalls") or []:
        windows = [(float(a), float(b)) for a, b in stall.get("windows") or []]
        if windows:
            rows.append((f"{stall.get('table')} stalled", "stall", windows))
    if not rows:
        return Markup('<p class="muted">no locks or stalls were recorded</p>')
    end = max(b for _, _, ws in rows for _, b in ws) or 1.0
    label_w, row = 300, 20
    plot = width - label_w - 10
    height = row * len(rows) + 24
    parts = [
        f'<svg class="chart timeline" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}"><title>locks and stalls during the upgrade</title>'
    ]
    for i, (label, kind, windows) in enumerate(rows):
        y = i * row + 2
        parts.append(f'<text x="0" y="{y + 13}" class="label">{escape(label[:48])}</text>')
        for a, b in windows:
            x = label_w + plot * a / end
            w = max(1.5, plot * (b - a) / end)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="13" class="{kind}">'
                f"<title>{escape(label)}: {a:.0f}-{b:.0f} ms</title></rect>"
            )
    axis_y = row * len(rows) + 6
    parts.append(
        f'<line x1="{label_w}" y1="{axis_y}" x2="{width - 10}" y2="{axis_y}" class="axis"/>'
        f'<text x="{label_w}" y="{axis_y + 14}" class="label">0 ms</text>'
        f'<text x="{width - 10}" y="{axis_y + 14}" class="label" text-anchor="end">'
        f"{end:.0f} ms</text></svg>"
    )
    return Markup("".join(parts))


def lines(
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    unit: str = "",
    width: int = 360,
    height: int = 120,
) -> Markup:
    """One line per (label, values) over the same x axis (index = second), with a legend;
    the first series is drawn muted (the baseline), the next in the accent colour."""
    drawn = [(label, list(values)) for label, values in series if values]
    if not drawn:
        return Markup('<p class="muted">nothing measured</p>')
    top = max((max(values) for _, values in drawn), default=0.0) or 1.0
    points = max(len(values) for _, values in drawn)
    left, bottom = 40, height - 18
    step = (width - left - 6) / max(1, points - 1)
    parts = [
        f'<svg class="chart lines" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}"><title>{escape(title)}</title>'
        f'<line x1="{left}" y1="{bottom}" x2="{width - 6}" y2="{bottom}" class="axis"/>'
        f'<text x="0" y="12" class="label">{escape(_number(top))}{escape(unit)}</text>'
        f'<text x="0" y="{bottom}" class="label">0</text>'
    ]
    for number, (label, values) in enumerate(drawn):
        path = " ".join(
            f"{left + i * step:.1f},{bottom - (bottom - 6) * value / top:.1f}"
            for i, value in enumerate(values)
        )
        kind = "series-a" if number == 0 else "series-b"
        parts.append(
            f'<polyline points="{path}" class="{kind}" fill="none"><title>{escape(label)}'
            "</title></polyline>"
            f'<text x="{left + 4 + 150 * number}" y="{height - 2}" class="label {kind}-label">'
            f"{escape(label[:24])}</text>"
        )
    parts.append(
        f'<text x="{width - 6}" y="{bottom + 12}" class="label" text-anchor="end">'
        f"{points} s</text></svg>"
    )
    return Markup("".join(parts))


def _number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"
