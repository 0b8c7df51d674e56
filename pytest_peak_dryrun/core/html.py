"""``dryrun_status_snapshot.html``: the status report as one self-contained page.

The same inputs as :func:`~pytest_peak_dryrun.core.markdown.render_markdown`, plus the
per-step activity of each run (counted while it ran: ``status.json``'s ``activity``). The page has inline CSS and
inline SVG only: no script, no external stylesheet, font or image, and a Content Security
Policy that forbids loading anything, so it opens the same offline, from a CI artifact or
an e-mail attachment. Per run it draws the order lifecycle as a state-transition diagram
(every legal transition, the ones that happened with their counts) and a bar chart of
events per step. The output is a pure function of its inputs: no wall clock, everything
sorted, coordinates formatted with a fixed precision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

from .events import ACTIVITY_CATEGORIES
from .markdown import lifecycle_counts, metric_samples
from .orders import LEGAL_TRANSITIONS, TERMINAL_STATES, OrderState
from .snapshots import ACTIVITY_BARS

__all__ = ["MAX_BARS", "render_html"]

# The categories are the event table's (Event.CATEGORY), counted during the run
# (snapshots.StepActivity); this module only draws them.
_CATEGORY_NAMES: Final = ACTIVITY_CATEGORIES
#: At most this many bars per chart; longer runs are bucketed into ranges of steps.
MAX_BARS: Final = ACTIVITY_BARS

_BADGE: Final = {"ok": "ok", "degraded": "degraded", "failed": "failed"}


# -- small helpers ---------------------------------------------------------------------------


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _n(value: float) -> str:
    """A coordinate with a fixed precision (``12.5``, ``40``): identical bytes everywhere."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], *, numeric: Sequence[int] = ()) -> list[str]:
    out = [
        '<div class="scroll"><table>',
        "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{cell}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table></div>"]
    return out


def _badge(status: str) -> str:
    return f'<span class="badge {_e(_BADGE.get(status, "unknown"))}">{_e(status)}</span>'


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


def _lifecycle_svg(index: int, docs: Mapping[str, Any]) -> str:
    counts: dict[tuple[str, str], int | float] = {}
    for labels, value in metric_samples(docs["metrics"], "order_state_transitions_total"):
        key = (labels["from_state"], labels["to_state"])
        counts[key] = counts.get(key, 0) + value
    edges: list[tuple[OrderState, OrderState]] = [
        (a, b) for a in OrderState for b in sorted(LEGAL_TRANSITIONS[a], key=lambda s: list(OrderState).index(s))
    ]
    # A transition outside the table (never expected) is still drawn, so nothing is hidden.
    known = {(a.value, b.value) for a, b in edges}
    for a_name, b_name in sorted(counts):
        if (a_name, b_name) not in known and a_name in _S.__members__ and b_name in _S.__members__:
            edges.append((_S(a_name), _S(b_name)))
    peak = max((v for v in counts.values() if v), default=1)
    on, off = f"pd-arrow-{index}-on", f"pd-arrow-{index}-off"
    by_state = docs["status"]["orders"]["by_state"]
    placed = docs["status"]["orders"]["placed"]
    title = f"Order lifecycle of run {docs['health']['run_id']}: order states and transition counts"
    out = [
        f'<svg class="lifecycle" viewBox="0 0 {_DIAGRAM_W} {_DIAGRAM_H}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
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
                f"<title>{_e(a.value)} → {_e(b.value)}: {_count(value)}</title></path>"
            )
            lx = 0.25 * start[0] + 0.5 * control[0] + 0.25 * end[0]
            ly = 0.25 * start[1] + 0.5 * control[1] + 0.25 * end[1]
            edge_labels.append(f'<text x="{_n(lx)}" y="{_n(ly + 4)}" class="edge-label">{_count(value)}</text>')
    # The entry arrow: orders that passed the pre-trade rails enter at NEW.
    nx, ny = _NODES[_S.NEW]
    left = nx - _NODE_W / 2 - 2
    out.append(
        f'<path d="M4,{_n(ny)} L{_n(left)},{_n(ny)}" class="edge {"active" if placed else "idle"}" '
        f'marker-end="url(#{on if placed else off})"/>'
    )
    edge_labels.append(f'<text x="4" y="{_n(ny - _NODE_H / 2 - 10)}" class="edge-label start">{placed} placed</text>')
    for state, (x, y) in _NODES.items():
        kind = "terminal" if state in TERMINAL_STATES else "open"
        final = by_state.get(state.value, 0)
        cls = f"node {kind}" + (" held" if final else "")
        out.append(
            f'<g class="{cls}"><title>{_e(state.value)}: {final} order(s) end here</title>'
            f'<rect x="{_n(x - _NODE_W / 2)}" y="{_n(y - _NODE_H / 2)}" width="{_NODE_W}" height="{_NODE_H}" rx="7"/>'
            f'<text x="{_n(x)}" y="{_n(y - 2)}" class="node-name">{_e(state.value)}</text>'
            f'<text x="{_n(x)}" y="{_n(y + 12)}" class="node-count">{final} at end</text></g>'
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


def _activity_svg(run_id: str, buckets: Sequence[Mapping[str, Any]]) -> str:
    totals = [sum(b["counts"].values()) for b in buckets]
    peak = max(totals, default=0) or 1
    plot_w, plot_h = _PLOT_X1 - _PLOT_X0, _PLOT_Y1 - _PLOT_Y0
    slot = plot_w / max(1, len(buckets))
    gap = 1.0 if slot > 4 else 0.0
    width = max((b["last_step"] - b["first_step"] + 1 for b in buckets), default=1)
    unit = "step" if width == 1 else "range of steps"
    axis = "step" if width == 1 else f"step ({width} steps per bar)"
    title = f"Events per {unit} of run {run_id}"
    out = [
        f'<svg class="activity" viewBox="0 0 {_CHART_W} {_CHART_H}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
    ]
    for tick in sorted({0, peak // 2, peak}):
        y = _PLOT_Y1 - plot_h * tick / peak
        out.append(f'<line x1="{_PLOT_X0}" y1="{_n(y)}" x2="{_PLOT_X1}" y2="{_n(y)}" class="grid"/>')
        out.append(f'<text x="{_PLOT_X0 - 6}" y="{_n(y + 4)}" class="tick y">{tick}</text>')
    for i, bucket in enumerate(buckets):
        x = _PLOT_X0 + i * slot
        y = float(_PLOT_Y1)
        detail = ", ".join(f"{name} {n}" for name, n in bucket["counts"].items()) or "no events"
        out.append(f"<g><title>{_e(_step_label(bucket['first_step'], bucket['last_step']))}: {_e(detail)}</title>")
        for name in _CATEGORY_NAMES:
            n = bucket["counts"].get(name, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            out.append(
                f'<rect x="{_n(x + gap / 2)}" y="{_n(y)}" width="{_n(max(slot - gap, 0.5))}" height="{_n(h)}" '
                f'class="c-{name}"/>'
            )
        out.append("</g>")
    out.append(f'<line x1="{_PLOT_X0}" y1="{_PLOT_Y1}" x2="{_PLOT_X1}" y2="{_PLOT_Y1}" class="axis"/>')
    if buckets:
        ticks = sorted({0, len(buckets) // 2, len(buckets) - 1})
        for i in ticks:
            x = _PLOT_X0 + (i + 0.5) * slot
            # The last label is right-aligned so a long step number is never cut off.
            anchor = " end" if i == len(buckets) - 1 and i else ""
            if anchor:
                x = min(x + 0.5 * slot, float(_PLOT_X1))
            out.append(
                f'<text x="{_n(x)}" y="{_PLOT_Y1 + 16}" class="tick x{anchor}">{buckets[i]["first_step"]}</text>'
            )
    out.append(f'<text x="{_n((_PLOT_X0 + _PLOT_X1) / 2)}" y="{_CHART_H - 4}" class="axis-title">{_e(axis)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _legend(buckets: Sequence[Mapping[str, Any]]) -> str:
    totals: dict[str, int] = {}
    for bucket in buckets:
        for name, n in bucket["counts"].items():
            totals[name] = totals.get(name, 0) + n
    items = [
        f'<li><span class="swatch c-{name}"></span>{_e(name)} {totals[name]}</li>'
        for name in _CATEGORY_NAMES
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
main{max-width:1080px;margin:0 auto}
h1{font-size:24px;margin:0 0 6px}h2{font-size:18px;margin:0 0 8px}h3{font-size:14px;margin:18px 0 6px}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef0f4;padding:1px 4px;
border-radius:4px}
.verdict{font-size:15px;margin:8px 0 4px}.note{color:var(--muted);margin:0 0 16px}
.problems{border-left:4px solid var(--failed);background:#fdecea;padding:8px 12px;margin:0 0 16px}
.problems p{margin:2px 0}
section.run{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:18px 0}
table{border-collapse:collapse;margin:6px 0 10px;background:#fff}
.scroll{overflow-x:auto;max-width:100%}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#eef0f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
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


def _run_section(
    index: int, run_id: str, docs: Mapping[str, Any], activity: Sequence[Mapping[str, Any]] | None
) -> list[str]:
    health, status_doc, metrics = docs["health"], docs["status"], docs["metrics"]
    session = status_doc["session"]
    out = [f'<section class="run" id="run-{index}">', f"<h2><code>{_e(run_id)}</code></h2>"]
    out.append(
        f"<p>Scenario <strong>{_e(health['scenario'])}</strong>, seed {_e(health['seed'])}, "
        f"{_e(session['steps_run'])} of {_e(session['steps_planned'])} steps, "
        f"final state <strong>{_e(session['state'])}</strong>, health {_badge(health['status'])}</p>"
    )
    if health["reasons"]:
        out.append('<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in health["reasons"]) + "</ul>")
    life = lifecycle_counts(docs)
    out.append("<p><strong>Orders:</strong> " + ", ".join(f"{n} {_e(k)}" for k, n in life.items()) + "</p>")
    out.append("<h3>Order lifecycle</h3>")
    out.append(_lifecycle_svg(index, docs))
    transitions = sorted(
        (
            (labels["from_state"], labels["to_state"], value)
            for labels, value in metric_samples(metrics, "order_state_transitions_total")
        ),
    )
    if transitions:
        out += _table(["from", "to", "count"], [[_e(a), _e(b), _count(v)] for a, b, v in transitions], numeric=(2,))
    out.append("<h3>Activity per step</h3>")
    if activity:
        out.append(_activity_svg(run_id, activity))
        out.append(_legend(activity))
    else:
        out.append('<p class="note">No per-step activity available for this run.</p>')
    op_rows: list[list[object]] = []
    for op, name in (
        ("place", "orders_place_total"),
        ("cancel", "orders_cancel_total"),
        ("query", "orders_query_total"),
    ):
        for labels, value in sorted(metric_samples(metrics, name), key=lambda s: sorted(s[0].items())):
            op_rows.append([op, _e(labels["outcome"]), _count(value)])
    for labels, value in sorted(metric_samples(metrics, "retry_attempts_total"), key=lambda s: sorted(s[0].items())):
        op_rows.append([f"retry {_e(labels['op'])}", _e(labels["reason"]), _count(value)])
    if op_rows:
        out.append("<h3>Broker calls</h3>")
        out += _table(["operation", "outcome", "count"], op_rows, numeric=(2,))
    rec = status_doc["reconcile"]
    mismatches = rec["mismatches"]
    out.append(
        f"<p><strong>Reconcile:</strong> {_e(rec['passes'])} pass(es), {_e(rec['clean_passes'])} clean"
        + (
            ", mismatches: " + ", ".join(f"{_e(k)} {_e(n)}" for k, n in sorted(mismatches.items()))
            if mismatches
            else ", no mismatches"
        )
        + ".</p>"
    )
    trips = status_doc["rail_trips"]
    if trips:
        out.append("<h3>Safety rail trips</h3>")
        out += _table(
            ["step", "rail", "detail"],
            [[_e(t["step"]), f"<code>{_e(t['rail'])}</code>", _e(t["detail"])] for t in trips],
            numeric=(0,),
        )
    if status_doc["positions"]:
        out.append(
            "<p><strong>Positions:</strong> "
            + ", ".join(f"{_e(symbol)} {_e(qty)}" for symbol, qty in sorted(status_doc["positions"].items()))
            + f"; cash {_e(status_doc['cash'])}.</p>"
        )
    out.append("</section>")
    return out


def render_html(
    summary: Mapping[str, Any],
    runs: Mapping[str, Mapping[str, Any]],
    *,
    problems: Sequence[str] = (),
    activity: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> str:
    """The whole page. ``activity`` maps run ids to their ``status.json`` activity buckets."""
    status = summary["status"]
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
        f'<p class="verdict">{_badge(status)} · {_e(summary["runs"])} run(s) · '
        + _e(", ".join(f"{n} {s}" for s, n in sorted(summary["by_state"].items())))
        + ("" if summary["complete"] else " · <strong>incomplete session</strong>")
        + "</p>",
        '<p class="note">Snapshot-only, NO-LIVE: every number below comes from a simulated clock '
        "and a mock broker.</p>",
    ]
    if problems:
        out.append('<div class="problems">' + "".join(f"<p>{_e(p)}</p>" for p in problems) + "</div>")
    ordered = sorted(runs.items())
    rows: list[list[object]] = []
    for index, (run_id, docs) in enumerate(ordered):
        life = lifecycle_counts(docs)
        rows.append(
            [
                f'<a href="#run-{index}"><code>{_e(run_id)}</code></a>',
                _e(docs["health"]["scenario"]),
                _e(docs["health"]["orchestrator_state"]),
                _badge(docs["health"]["status"]),
                life["placed"],
                life["filled"],
                life["canceled"],
                life["rejected"],
                life["expired"],
                life["open"],
                _e(docs["status"]["reconcile"]["mismatches_total"]),
                _e(docs["health"]["safety_rail_trips_total"]),
            ]
        )
    out += _table(
        [
            "run",
            "scenario",
            "final state",
            "health",
            "placed",
            "filled",
            "canceled",
            "rejected",
            "expired",
            "open",
            "mismatches",
            "rail trips",
        ],
        rows,
        numeric=tuple(range(4, 12)),
    )
    for index, (run_id, docs) in enumerate(ordered):
        out += _run_section(index, run_id, docs, None if activity is None else activity.get(run_id))
    out += [
        "<footer>Written by pytest-peak-dryrun from the snapshot documents beside this file "
        "(simulated time only; no wall-clock time appears in this report).</footer>",
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)
