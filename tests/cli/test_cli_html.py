"""``dryrun_status_snapshot.html``: self-contained, deterministic, with the two SVG pictures."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.canonical import dumps_line
from pytest_peak_dryrun.core.html import render_html
from pytest_peak_dryrun.core.orders import LEGAL_TRANSITIONS
from pytest_peak_dryrun.core.writer import INDEX_FILE, SESSION_FILES, read_run_documents, render_session_files

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
    _, _, texts = render_session_files(snapshot_all, ids)
    assert texts[HTML] == _html(snapshot_all)


def test_escapes_text(snapshot_all: Path) -> None:
    runs = {"x": read_run_documents(snapshot_all, "tripwire")}
    runs["x"]["health"] = {**runs["x"]["health"], "reasons": ["<script>alert(1)</script> & more"]}
    summary = {"runs": 1, "status": "failed", "by_status": {"failed": 1}, "by_state": {"STOPPED": 1}, "complete": False}
    page = render_html(summary, runs, problems=["worker <gw1> crashed"])
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "worker &lt;gw1&gt; crashed" in page
    assert "incomplete session" in page
    assert "No per-step activity available" in page  # no activity passed


def _event(seq: int, ts_ms: int, kind: str) -> str:
    return dumps_line({"kind": kind, "payload": {}, "run_id": "r", "seq": seq, "ts": ts_ms / 1000})


def test_core_modules_load_no_test_or_http_modules() -> None:
    # (socket itself is excluded here: pydantic's plugin lookup loads importlib.metadata,
    # which imports email.utils and with it the socket module; nothing of ours calls it.)
    code = (
        "import sys\n"
        "import pytest_peak_dryrun.core.html, pytest_peak_dryrun.core.writer, pytest_peak_dryrun.core.schemas\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytest', '_pytest', 'syrupy', 'http', 'urllib3', 'requests'))\n"
        "print('BAD', bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stdout.strip() == "BAD []", proc.stdout + proc.stderr


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_renders_in_headless_chromium(snapshot_all: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (/usr/bin/chromium or chromium on PATH); apt-get install chromium")
    page = tmp_path / "report.html"
    shutil.copyfile(snapshot_all / HTML, page)  # render a copy: chromium never touches the snapshot dir
    shot = tmp_path / "shot.png"
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,900",
            f"file://{page}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert shot.exists(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 900)
    assert len(data) > 20_000, "a blank page compresses to a few kilobytes"
