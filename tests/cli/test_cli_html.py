"""``dryrun_status_snapshot.html``: self-contained, deterministic, with the two SVG pictures."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import make_run_id, run_scenario
from pytest_peak_dryrun.core.orders import LEGAL_TRANSITIONS
from pytest_peak_dryrun.core.scenario import builtin_scenario
from pytest_peak_dryrun.core.writer import INDEX_FILE, SESSION_FILES
from pytest_peak_dryrun.report.html import render_html
from pytest_peak_dryrun.report.session import read_session, render_session_files, write_session

HTML = "dryrun_status_snapshot.html"
MakeSnapshot = Callable[..., Path]


def _html(directory: Path) -> str:
    return (directory / HTML).read_text(encoding="utf-8")


def test_written_and_indexed(snapshot_all: Path) -> None:
    assert HTML in SESSION_FILES
    index = json.loads((snapshot_all / INDEX_FILE).read_text())
    assert HTML in index["files"]


def test_self_contained(snapshot_all: Path) -> None:
    page = _html(snapshot_all)
    lowered = page.lower()
    assert page.startswith("<!DOCTYPE html>\n")
    assert "http://" not in lowered
    assert "https://" not in lowered
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert "<img" not in lowered
    assert "<iframe" not in lowered
    assert "@font-face" not in lowered
    assert not re.search(r"\bsrc\s*=", lowered)
    assert all(m.group(1) == "#" for m in re.finditer(r"url\((.)", page)), "only in-page url(#...) references"
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))
    assert "default-src 'none'" in page  # the CSP forbids fetching anything
    assert "<style>" in page


def test_has_a_lifecycle_diagram_and_an_activity_chart_per_run(snapshot_all: Path) -> None:
    page = _html(snapshot_all)
    assert page.count("<svg") == 8
    assert page.count('<svg class="lifecycle"') == 4
    assert page.count('<svg class="activity"') == 4
    assert page.count("</svg>") == 8
    # Transition counts on the edges (happy_path: NEW -> ACK 5 times, ACK -> FILLED 5 times).
    happy = page[page.index("<code>happy_path</code></h2>") :]
    happy = happy[: happy.index("</section>")]
    assert "<title>NEW → ACK: 5</title>" in happy
    assert "<title>ACK → FILLED: 5</title>" in happy
    assert "5 placed" in happy
    # Every legal transition is drawn; the unused ones as idle edges.
    legal = sum(len(targets) for targets in LEGAL_TRANSITIONS.values())
    assert happy.count('class="edge idle"') == legal - 2
    # The activity chart has one bar group per step (0..20 for happy_path).
    assert happy.count("<g><title>step ") == 21
    assert "Events per step of run happy_path" in happy


def test_shows_health_reasons_and_rail_trips(snapshot_all: Path) -> None:
    page = _html(snapshot_all)
    assert "<li>session needs the operator (ERROR_REQUIRES_OPERATOR)</li>" in page
    assert "<td>quantity 500 above limit 50</td>" in page
    assert '<span class="badge failed">failed</span>' in page


def test_deterministic(snapshot_all: Path, tmp_path: Path, make_snapshot: MakeSnapshot) -> None:
    """The same runs give the same bytes, wherever and whenever they are written."""
    other = make_snapshot(tmp_path / "elsewhere", ["tripwire", "happy_path", "partial_fills", "failure_matrix"])
    assert _html(other) == _html(snapshot_all)
    ids = ["failure_matrix", "happy_path", "partial_fills", "tripwire"]
    assert render_session_files(snapshot_all, ids).texts[HTML] == _html(snapshot_all)


def test_every_text_is_escaped(snapshot_all: Path) -> None:
    """Text from the documents reaches the page only through the escaping helper, wherever it lands."""
    session, _ = read_session(snapshot_all, ["failure_matrix", "tripwire"], problems=["worker <gw1> crashed"])
    hostile = {f"<b>{n}</b>&": n for n in range(10)}
    evil = list(hostile)
    trip, fm = session.runs
    trip = trip.model_copy(
        update={
            "scenario": evil[0],
            "health": trip.health.model_copy(update={"reasons": [evil[1]]}),
            "rail_trips": [trip.rail_trips[0].model_copy(update={"detail": evil[2], "rail": evil[3]})],
            "detail": trip.detail.model_copy(update={"positions": {evil[4]: "1"}}),
        }
    )
    first = fm.mismatches.first[0].model_copy(update={"order_id": evil[5], "detail": evil[6]})
    fm = fm.model_copy(update={"mismatches": fm.mismatches.model_copy(update={"first": [first]})})
    page = render_html(session.model_copy(update={"runs": [trip, fm]}))
    assert "<b>" not in page
    for text in evil[:7]:
        assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page, text
    assert "worker &lt;gw1&gt; crashed" in page
    assert "incomplete session" in page


def test_runs_are_listed_failed_first_with_mismatch_origins(snapshot_all: Path) -> None:
    page = _html(snapshot_all)
    table = page[page.index('<table class="runs">') : page.index("</table>")]
    assert [m.group(1) for m in re.finditer(r'<a href="#run-(\d+)"><code>([^<]*)', table)] == ["0", "1", "2", "3"]
    assert re.findall(r"<code>([a-z_]+)</code></a>", table.replace("<wbr>", "")) == [
        "tripwire",
        "failure_matrix",
        "happy_path",
        "partial_fills",
    ]
    sections = re.findall(r'<section class="([a-z ]+)" id="run-\d+"><h2><code>([a-z_]+)</code>', page.replace("\n", ""))
    assert sections == [
        ("run attention", "tripwire"),
        ("run degraded", "failure_matrix"),
        ("run", "happy_path"),
        ("run", "partial_fills"),
    ]
    fm = page[page.index("<code>failure_matrix</code></h2>") :]
    fm = fm[: fm.index("</section>")]
    assert "<h3>Mismatches (where each came from)</h3>" in fm
    assert (
        '<tr><td class="num">12</td><td><code>cancel_race</code></td><td><code>O-000005</code></td>'
        "<td>fill MB-00000005-F1 arrived after the cancel request</td></tr>"
    ) in fm


def test_report_modules_load_no_test_or_http_modules() -> None:
    # (socket itself is excluded here: pydantic's plugin lookup loads importlib.metadata,
    # which imports email.utils and with it the socket module; nothing of ours calls it.)
    code = (
        "import sys\n"
        "import pytest_peak_dryrun.report.html, pytest_peak_dryrun.report.session, pytest_peak_dryrun.core.schemas\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytest', '_pytest', 'syrupy', 'http', 'urllib3', 'requests'))\n"
        "print('BAD', bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stdout.strip() == "BAD []", proc.stdout + proc.stderr


def _chromium() -> str:
    found = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    found = found or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (/usr/bin/chromium or chromium on PATH); apt-get install chromium")
    return found


def _screenshot(html: str, tmp_path: Path, name: str, *, width: int, height: int = 900) -> bytes:
    """A PNG of ``html`` in headless chromium (a copy under ``tmp_path``: the snapshot dir is never touched)."""
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / f'profile-{name}'}",
            f"--screenshot={shot}",
            f"--window-size={width},{height}",
            f"file://{page}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert shot.exists(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return shot.read_bytes()


def _png_rgb(data: bytes) -> tuple[int, int, list[bytes]]:
    """``(width, height, rows of RGB bytes)`` of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert color in (2, 6), color  # RGB or RGBA
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(v for x in range(width) for v in line[x * 4 : x * 4 + 3]))
        prev = line
    return width, height, rows


def _columns_of(rows: list[bytes], rgb: tuple[int, int, int]) -> set[int]:
    """The x of every pixel of exactly this colour."""
    needle = bytes(rgb)
    return {x for row in rows for x in range(len(row) // 3) if row[3 * x : 3 * x + 3] == needle}


def test_renders_in_headless_chromium(snapshot_all: Path, tmp_path: Path) -> None:
    data = _screenshot(_html(snapshot_all), tmp_path, "report", width=1200)
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 900)
    assert len(data) > 20_000, "a blank page compresses to a few kilobytes"


#: Paints the runs table's first and last header cells in colours the page never uses.
_MARK = (
    "<style>table.runs th:first-child{background:#00ffff!important;color:#00ffff!important}"
    "table.runs th:last-child{background:#ff00ff!important;color:#ff00ff!important}</style></head>"
)


def test_the_runs_table_fits_a_1280px_window(tmp_path: Path, make_snapshot: MakeSnapshot) -> None:
    """At 1280 px the whole runs table is on screen: its last column is painted, not scrolled away.

    The runs have the long ids real suites give them (a slug of the node id plus a hash);
    they wrap at ``-``, ``_`` and ``.``. The control renders the same table forced wider than
    the window: then the last column is off screen and the check sees it.
    """
    out = tmp_path / "snap"
    nodeids = [
        "examples/test_failures.py::test_the_same_duplicate_trips_the_rail_when_not_tolerated[tripwire]",
        "examples/test_failures.py::test_rate_limit_is_retried_and_duplicate_fill_ignored[failure_matrix]",
        "examples/test_house_adapter.py::test_partial_fills_through_the_house_broker_with_a_long_name[happy_path]",
    ]
    for nodeid in nodeids:
        name = nodeid.rsplit("[", 1)[1].rstrip("]")
        run_scenario(builtin_scenario(name), run_id=make_run_id(nodeid), out_dir=out)
    write_session(out, [make_run_id(n) for n in nodeids], audit_key=None)
    page = _html(out)
    assert max(len(make_run_id(n)) for n in nodeids) > 100

    width, _, rows = _png_rgb(_screenshot(page.replace("</head>", _MARK, 1), tmp_path, "fits", width=1280))
    assert width == 1280
    first, last = _columns_of(rows, (0, 255, 255)), _columns_of(rows, (255, 0, 255))
    assert first, "the runs table's first column is not on screen"
    assert last, "the runs table's last column (retries) is not on screen at 1280 px"
    assert max(last) < 1280 - 16, "the last column touches the window's edge"
    assert min(first) < min(last)

    wide = page.replace("</head>", "<style>table.runs{min-width:1600px}</style>" + _MARK, 1)
    _, _, rows = _png_rgb(_screenshot(wide, tmp_path, "control", width=1280))
    assert _columns_of(rows, (0, 255, 255)), "the control page did not render"
    assert not _columns_of(rows, (255, 0, 255)), "the check cannot see a table wider than the window"
