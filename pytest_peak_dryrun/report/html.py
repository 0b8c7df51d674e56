"""``dryrun_status_snapshot.html``: the status report as one self-contained page.

The same rows as the Markdown report (:mod:`.markdown`), in the same order (failed and
needs-the-operator runs first, then degraded, then ok), plus per run the order lifecycle as a
state-transition diagram (every legal transition, the ones that happened with their counts)
and a bar chart of events per step (counted while the run happened: ``status.json``'s
``activity``). The page has inline CSS and inline SVG only: no script, no external
stylesheet, font or image, and a Content Security Policy that forbids loading anything, so it
opens the same offline, from a CI artifact or an e-mail attachment. The runs table fits a
1280 px window: long run ids, scenarios and states wrap at ``-``, ``_`` and ``.``.

Every piece of text from the documents reaches the page through :func:`h` (or
:func:`breakable`, which calls it): one escaping helper, used everywhere. The output is a
pure function of its inputs: no wall clock, everything sorted, coordinates formatted with a
fixed precision.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import Final

from ..core.events import ACTIVITY_CATEGORIES
from ..core.orders import LEGAL_TRANSITIONS, TERMINAL_STATES, OrderState
from ..core.snapshots import ActivityBucket
from .rows import COLUMNS, RunRow, SessionRow

__all__ = ["breakable", "h", "render_html"]

_STATUSES: Final = frozenset({"ok", "degraded", "failed"})
_BREAK_AFTER: Final = re.compile(r"([-_.])")


# -- the one escaping helper ------------------------------------------------------------------


def h(value: object) -> str:
    """``value`` as HTML text: ``&``, ``<``, ``>``, ``"`` and ``'`` escaped (safe in text and attributes)."""
    return html.escape(str(value), quote=True)


def breakable(value: object) -> str:
    """:func:`h` of ``value`` with a line-break opportunity (``<wbr>``) after each ``-``, ``_`` and ``.``.

    A run id like ``examples-test_failures-test_the_same_duplicate_trips_...`` then wraps in a
    narrow column instead of widening the table past the window. Escaping first is safe: no
    entity contains those characters.
    """
    return _BREAK_AFTER.sub(r"\1<wbr>", h(value))


def _n(value: float) -> str:
    """A coordinate with a fixed precision (``12.5``, ``40``): identical bytes everywhere."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = (), css: str = ""
) -> list[str]:
    """A table of cells that are already HTML (each built with :func:`h`); ``numeric`` columns align right."""
    table = f'<table class="{css}">' if css else "<table>"
    out = [
        f'<div class="scroll">{table}',
        "<thead><tr>" + "".join(f"<th>{h(name)}</th>" for name in header) + "</tr></thead>",
        "<tbody>",
    ]
    num = ' class="num"'
    for row in rows:
        out.append(
            "<tr>" + "".join(f"<td{num if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        )
    out += ["</tbody>", "</table></div>"]
    return out


def _badge(status: str) -> str:
    return f'<span class="badge {status if status in _STATUSES else "unknown"}">{h(status)}</span>'


# -- the order lifecycle diagram -------------------------------------------------------------

_NODE_W: Final = 128
_NODE_H: Final = 38
_DIAGRAM_W: Final = 820
_DIAGRAM_H: Final = 336
_S = OrderState
#: Fixed node positions (centres): the lifecycle reads left to right, terminal states right.
_NODES: Final[dict[OrderState, tuple[float, float]]] = {
    _S.NEW: (120, 170),
    _S.ACK: (320, 110),
    _S.PARTIAL: (530, 110),
    _S.PENDING_CANCEL: (430, 240),
    _S.PENDING_REPLACE: (430, 180),
    _S.REJECTED: (320, 305),
    _S.FILLED: (740, 50),
    _S.EXPIRED: (740, 150),
    _S.CANCELED: (740, 240),
}
#: Hand-placed control points for edges that would otherwise cross a node.
_CONTROL: Final[dict[tuple[OrderState, OrderState], tuple[float, float]]] = {
    (_S.NEW, _S.FILLED): (300, -60),
    (_S.NEW, _S.PARTIAL): (320, 185),
    (_S.ACK, _S.FILLED): (500, 40),
    (_S.ACK, _S.EXPIRED): (520, 190),
    (_S.PENDING_REPLACE, _S.FILLED): (690, 165),
}
#: Edges with a reverse edge bend to one side so the pair does not overlap.
_BEND: Final = 24.0


def _control(a: OrderState, b: OrderState) -> tuple[float, float]:
    fixed = _CONTROL.get((a, b))
    if fixed is not None:
        return fixed
    (x1, y1), (x2, y2) = _NODES[a], _NODES[b]
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    if a in LEGAL_TRANSITIONS.get(b, frozenset()):
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        return mx - (y2 - y1) / length * _BEND, my + (x2 - x1) / length * _BEND
    return mx, my


def _clip(centre: tuple[float, float], toward: tuple[float, float]) -> tuple[float, float]:
    """Where the segment from a node's centre toward ``toward`` leaves the node's box."""
    (cx, cy), (tx, ty) = centre, toward
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return centre
    scale = min(
        (_NODE_W / 2 + 2) / abs(dx) if dx else math.inf,
        (_NODE_H / 2 + 2) / abs(dy) if dy else math.inf,
    )
    return cx + dx * scale, cy + dy * scale


def _lifecycle_svg(index: int, row: RunRow) -> str:
    counts: dict[tuple[str, str], int] = {}
    for t in row.detail.transitions:
        counts[(t.from_state, t.to_state)] = counts.get((t.from_state, t.to_state), 0) + t.count
    order = list(OrderState)
    edges: list[tuple[OrderState, OrderState]] = [
        (a, b) for a in OrderState for b in sorted(LEGAL_TRANSITIONS[a], key=order.index)
    ]
    # A transition outside the table (never expected) is still drawn, so nothing is hidden.
    known = {(a.value, b.value) for a, b in edges}
    for a_name, b_name in sorted(counts):
        if (a_name, b_name) not in known and a_name in _S.__members__ and b_name in _S.__members__:
            edges.append((_S(a_name), _S(b_name)))
    peak = max((v for v in counts.values() if v), default=1)
    on, off = f"pd-arrow-{index}-on", f"pd-arrow-{index}-off"
    placed = row.orders.placed
    title = h(f"Order lifecycle of run {row.run_id}: order states and transition counts")
    out = [
        f'<svg class="lifecycle" viewBox="0 0 {_DIAGRAM_W} {_DIAGRAM_H}" role="img" aria-label="{title}">',
        f"<title>{title}</title>",
        "<defs>",
        f'<marker id="{on}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" '
        'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" class="arrow-on"/></marker>',
        f'<marker id="{off}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" class="arrow-off"/></marker>',
        "</defs>",
    ]
    # Idle edges first, so the edges that carried orders are drawn on top.
    edge_labels: list[str] = []
    for active in (False, True):
        for a, b in edges:
            value = counts.get((a.value, b.value), 0)
            if bool(value) is not active:
                continue
            control = _control(a, b)
            start, end = _clip(_NODES[a], control), _clip(_NODES[b], control)
            path = f"M{_n(start[0])},{_n(start[1])} Q{_n(control[0])},{_n(control[1])} {_n(end[0])},{_n(end[1])}"
            if not active:
                out.append(f'<path d="{path}" class="edge idle" marker-end="url(#{off})"/>')
                continue
            width = 1.5 + 4.5 * (value / peak)
            out.append(
                f'<path d="{path}" class="edge active" style="stroke-width:{_n(width)}" marker-end="url(#{on})">'
                f"<title>{h(a.value)} → {h(b.value)}: {h(value)}</title></path>"
            )
            lx = 0.25 * start[0] + 0.5 * control[0] + 0.25 * end[0]
            ly = 0.25 * start[1] + 0.5 * control[1] + 0.25 * end[1]
            edge_labels.append(f'<text x="{_n(lx)}" y="{_n(ly + 4)}" class="edge-label">{h(value)}</text>')
    # The entry arrow: orders that passed the pre-trade rails enter at NEW.
    nx, ny = _NODES[_S.NEW]
    left = nx - _NODE_W / 2 - 2
    out.append(
        f'<path d="M4,{_n(ny)} L{_n(left)},{_n(ny)}" class="edge {"active" if placed else "idle"}" '
        f'marker-end="url(#{on if placed else off})"/>'
    )
    edge_labels.append(
        f'<text x="4" y="{_n(ny - _NODE_H / 2 - 10)}" class="edge-label start">{h(placed)} placed</text>'
    )
    for state, (x, y) in _NODES.items():
        kind = "terminal" if state in TERMINAL_STATES else "open"
        final = row.detail.by_state.get(state, 0)
        cls = f"node {kind}" + (" held" if final else "")
        out.append(
            f'<g class="{cls}"><title>{h(state.value)}: {h(final)} order(s) end here</title>'
            f'<rect x="{_n(x - _NODE_W / 2)}" y="{_n(y - _NODE_H / 2)}" width="{_NODE_W}" height="{_NODE_H}" rx="7"/>'
            f'<text x="{_n(x)}" y="{_n(y - 2)}" class="node-name">{h(state.value)}</text>'
            f'<text x="{_n(x)}" y="{_n(y + 12)}" class="node-count">{h(final)} at end</text></g>'
        )
    out += edge_labels
    out.append("</svg>")
    return "\n".join(out)


# -- the per-step activity chart -------------------------------------------------------------

_CHART_W: Final = 820
_CHART_H: Final = 210
_PLOT_X0: Final = 48
_PLOT_X1: Final = 810
_PLOT_Y0: Final = 14
_PLOT_Y1: Final = 176


def _step_label(first: int, last: int) -> str:
    return f"step {first}" if first == last else f"steps {first}–{last}"


def _activity_svg(run_id: str, buckets: Sequence[ActivityBucket]) -> str:
    totals = [sum(b.counts.values()) for b in buckets]
    peak = max(totals, default=0) or 1
    plot_w, plot_h = _PLOT_X1 - _PLOT_X0, _PLOT_Y1 - _PLOT_Y0
    slot = plot_w / max(1, len(buckets))
    gap = 1.0 if slot > 4 else 0.0
    width = max((b.last_step - b.first_step + 1 for b in buckets), default=1)
    unit = "step" if width == 1 else "range of steps"
    axis = "step" if width == 1 else f"step ({width} steps per bar)"
    title = h(f"Events per {unit} of run {run_id}")
    out = [
        f'<svg class="activity" viewBox="0 0 {_CHART_W} {_CHART_H}" role="img" aria-label="{title}">',
        f"<title>{title}</title>",
    ]
    for tick in sorted({0, peak // 2, peak}):
        y = _PLOT_Y1 - plot_h * tick / peak
        out.append(f'<line x1="{_PLOT_X0}" y1="{_n(y)}" x2="{_PLOT_X1}" y2="{_n(y)}" class="grid"/>')
        out.append(f'<text x="{_PLOT_X0 - 6}" y="{_n(y + 4)}" class="tick y">{h(tick)}</text>')
    for i, bucket in enumerate(buckets):
        x = _PLOT_X0 + i * slot
        y = float(_PLOT_Y1)
        detail = ", ".join(f"{name} {n}" for name, n in bucket.counts.items()) or "no events"
        out.append(f"<g><title>{h(_step_label(bucket.first_step, bucket.last_step))}: {h(detail)}</title>")
        for name in ACTIVITY_CATEGORIES:
            n = bucket.counts.get(name, 0)
            if not n:
                continue
            bar = plot_h * n / peak
            y -= bar
            out.append(
                f'<rect x="{_n(x + gap / 2)}" y="{_n(y)}" width="{_n(max(slot - gap, 0.5))}" height="{_n(bar)}" '
                f'class="c-{h(name)}"/>'
            )
        out.append("</g>")
    out.append(f'<line x1="{_PLOT_X0}" y1="{_PLOT_Y1}" x2="{_PLOT_X1}" y2="{_PLOT_Y1}" class="axis"/>')
    if buckets:
        for i in sorted({0, len(buckets) // 2, len(buckets) - 1}):
            x = _PLOT_X0 + (i + 0.5) * slot
            # The last label is right-aligned so a long step number is never cut off.
            anchor = " end" if i == len(buckets) - 1 and i else ""
            if anchor:
                x = min(x + 0.5 * slot, float(_PLOT_X1))
            out.append(
                f'<text x="{_n(x)}" y="{_PLOT_Y1 + 16}" class="tick x{anchor}">{h(buckets[i].first_step)}</text>'
            )
    out.append(f'<text x="{_n((_PLOT_X0 + _PLOT_X1) / 2)}" y="{_CHART_H - 4}" class="axis-title">{h(axis)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _legend(buckets: Sequence[ActivityBucket]) -> str:
    totals: dict[str, int] = {}
    for bucket in buckets:
        for name, n in bucket.counts.items():
            totals[name] = totals.get(name, 0) + n
    items = [
        f'<li><span class="swatch c-{h(name)}"></span>{h(name)} {h(totals[name])}</li>'
        for name in ACTIVITY_CATEGORIES
        if totals.get(name)
    ]
    return '<ul class="legend">' + "".join(items) + "</ul>"


# -- the page ----------------------------------------------------------------------------------

_CSS: Final = """
:root{color-scheme:light;--ink:#1d2330;--muted:#5b6475;--line:#d7dce5;--ok:#1f7a45;--degraded:#9a6a00;
--failed:#b3261e}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px 48px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:#f6f7f9}
main{max-width:1160px;margin:0 auto}
h1{font-size:24px;margin:0 0 6px}h2{font-size:18px;margin:0 0 8px;overflow-wrap:anywhere}
h3{font-size:14px;margin:18px 0 6px}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef0f4;padding:1px 4px;
border-radius:4px}
.verdict{font-size:15px;margin:8px 0 4px}.note{color:var(--muted);margin:0 0 16px}
.problems{border-left:4px solid var(--failed);background:#fdecea;padding:8px 12px;margin:0 0 16px}
.problems p{margin:2px 0}
section.run{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:18px 0}
section.run.attention{border-left:6px solid var(--failed)}section.run.degraded{border-left:6px solid var(--degraded)}
table{border-collapse:collapse;margin:6px 0 10px;background:#fff}
.scroll{overflow-x:auto;max-width:100%}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#eef0f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
section.run td:last-child{white-space:normal;overflow-wrap:anywhere}
table.runs{width:100%}
table.runs th,table.runs td{white-space:normal;padding:3px 6px;vertical-align:top}
table.runs th{font-size:12px}
table.runs td.num{white-space:nowrap;width:1%}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.badge.ok{background:var(--ok)}.badge.degraded{background:var(--degraded)}.badge.failed{background:var(--failed)}
.badge.unknown{background:var(--muted)}
ul.reasons{margin:6px 0 10px;padding-left:20px}
svg{display:block;width:100%;height:auto;max-width:820px;margin:4px 0}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--ink)}
.node rect{fill:#fff;stroke:#8792a6;stroke-width:1.2}.node.terminal rect{fill:#f1f3f7}
.node.held rect{stroke:#2f5fb3;stroke-width:2}
.node-name{font-weight:600;text-anchor:middle}.node-count{font-size:10px;fill:var(--muted);text-anchor:middle}
.edge{fill:none}.edge.idle{stroke:#c5cbd6;stroke-width:1;stroke-dasharray:4 3}
.edge.active{stroke:#2f5fb3;stroke-linecap:round}
.arrow-on{fill:#2f5fb3}.arrow-off{fill:#c5cbd6}
.edge-label{font-size:12px;font-weight:700;text-anchor:middle;fill:#16336b;paint-order:stroke;stroke:#fff;
stroke-width:4px;stroke-linejoin:round}
.grid{stroke:#e6e9ef;stroke-width:1}.axis{stroke:#8792a6;stroke-width:1}
.tick{font-size:10px;fill:var(--muted)}.tick.y{text-anchor:end}.tick.x{text-anchor:middle}.tick.x.end{text-anchor:end}
.edge-label.start{text-anchor:start}
.axis-title{font-size:11px;fill:var(--muted);text-anchor:middle}
ul.legend{list-style:none;padding:0;margin:2px 0 8px;display:flex;flex-wrap:wrap;gap:14px;color:var(--muted)}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.c-session{fill:#8b93a3;background:#8b93a3}.c-orders{fill:#2f6fdf;background:#2f6fdf}
.c-fills{fill:#2a9d5c;background:#2a9d5c}.c-faults{fill:#e0a100;background:#e0a100}
.c-reconcile{fill:#7b4fc9;background:#7b4fc9}.c-rails{fill:#d64545;background:#d64545}
.c-other{fill:#4b5261;background:#4b5261}
footer{color:var(--muted);font-size:12px;margin-top:24px}
"""


def _runs_cell(header: str, value: str | int, index: int) -> str:
    if header == "run":
        return f'<a href="#run-{index}"><code>{breakable(value)}</code></a>'
    if header == "health":
        return _badge(str(value))
    return breakable(value)


def _runs_table(runs: Sequence[RunRow]) -> list[str]:
    rows = [[_runs_cell(c.header, c.cell(row), i) for c in COLUMNS] for i, row in enumerate(runs)]
    numeric = [i for i, c in enumerate(COLUMNS) if c.numeric]
    return _table([c.header for c in COLUMNS], rows, numeric=numeric, css="runs")


def _run_section(index: int, row: RunRow) -> list[str]:
    detail = row.detail
    css = "run attention" if row.attention else "run degraded" if row.rank == 1 else "run"
    out = [f'<section class="{css}" id="run-{index}">', f"<h2><code>{h(row.run_id)}</code></h2>"]
    out.append(
        f"<p>Scenario <strong>{h(row.scenario)}</strong>, seed {h(row.seed)}, "
        f"{h(row.steps.run)} of {h(row.steps.planned)} steps, "
        f"final state <strong>{h(row.state.value)}</strong>, health {_badge(row.health.status.value)}</p>"
    )
    if row.health.reasons:
        out.append('<ul class="reasons">' + "".join(f"<li>{h(r)}</li>" for r in row.health.reasons) + "</ul>")
    orders = ", ".join(f"{h(n)} {h(k)}" for k, n in row.orders.model_dump().items())
    out.append(f"<p><strong>Orders:</strong> {orders}</p>")
    out.append("<h3>Order lifecycle</h3>")
    out.append(_lifecycle_svg(index, row))
    if detail.transitions:
        cells = [[h(t.from_state), h(t.to_state), h(t.count)] for t in detail.transitions]
        out += _table(["from", "to", "count"], cells, numeric=(2,))
    out.append("<h3>Activity per step</h3>")
    if detail.activity:
        out.append(_activity_svg(row.run_id, detail.activity))
        out.append(_legend(detail.activity))
    else:
        out.append('<p class="note">No per-step activity available for this run.</p>')
    if detail.calls:
        out.append("<h3>Broker calls</h3>")
        cells = [[h(c.operation), h(c.outcome), h(c.count)] for c in detail.calls]
        out += _table(["operation", "outcome", "count"], cells, numeric=(2,))
    kinds = row.mismatches.by_kind
    out.append(
        f"<p><strong>Reconcile:</strong> {h(detail.passes)} pass(es), {h(detail.clean_passes)} clean"
        + (", mismatches: " + ", ".join(f"{h(k)} {h(n)}" for k, n in kinds.items()) if kinds else ", no mismatches")
        + ".</p>"
    )
    if row.mismatches.first:
        out.append("<h3>Mismatches (where each came from)</h3>")
        cells = [
            [h(m.step), f"<code>{h(m.kind.value)}</code>", f"<code>{h(m.order_id)}</code>", h(m.detail)]
            for m in row.mismatches.first
        ]
        out += _table(["step", "kind", "order", "detail"], cells, numeric=(0,))
        if row.mismatches.unlisted:
            out.append(
                f'<p class="note">… and {h(row.mismatches.unlisted)} more: every one is a '
                "<code>reconcile_mismatch</code> event in <code>events.jsonl</code>.</p>"
            )
    if row.rail_trips:
        out.append("<h3>Safety rail trips</h3>")
        cells = [[h(t.step), f"<code>{h(t.rail)}</code>", h(t.detail)] for t in row.rail_trips]
        out += _table(["step", "rail", "detail"], cells, numeric=(0,))
    if detail.positions:
        positions = ", ".join(f"{h(symbol)} {h(qty)}" for symbol, qty in detail.positions.items())
        out.append(f"<p><strong>Positions:</strong> {positions}; cash {h(detail.cash)}.</p>")
    out.append("</section>")
    return out


def render_html(session: SessionRow) -> str:
    """The whole page."""
    rollup = session.rollup
    states = ", ".join(f"{n} {s.value}" for s, n in rollup.by_state.items())
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing may be fetched: the page is complete as it is.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        "<title>Dry-run status report</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<h1>Dry-run status report</h1>",
        f'<p class="verdict">{_badge(rollup.status.value)} · {h(rollup.runs)} run(s) · {h(states)}'
        + ("" if rollup.complete else " · <strong>incomplete session</strong>")
        + "</p>",
        '<p class="note">Snapshot-only, NO-LIVE: every number below comes from a simulated clock '
        "and a mock broker.</p>",
    ]
    if session.problems:
        out.append('<div class="problems">' + "".join(f"<p>{h(p)}</p>" for p in session.problems) + "</div>")
    out += _runs_table(session.runs)
    for index, row in enumerate(session.runs):
        out += _run_section(index, row)
    out += [
        "<footer>Written by pytest-peak-dryrun from the snapshot documents beside this file "
        "(simulated time only; no wall-clock time appears in this report).</footer>",
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)
