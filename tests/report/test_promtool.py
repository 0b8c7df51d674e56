"""The Prometheus exposition passes ``promtool check metrics`` (skipped without promtool).

CI installs promtool (Debian package ``prometheus``) in ``.ci/run``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.report.prometheus import render_prometheus
from pytest_peak_dryrun.report.session import write_session

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_a_runs_exposition_passes_promtool(name: str) -> None:
    text = render_prometheus(run_scenario(builtin_scenario(name), keep_events=False).metrics.metrics)
    done = promtool_check(text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""  # no lint warnings either


def test_the_session_file_passes_promtool(tmp_path: Path) -> None:
    ids = [run_scenario(builtin_scenario(name), out_dir=tmp_path).run_id for name in BUILTIN_SCENARIOS]
    write_session(tmp_path, ids)
    done = promtool_check((tmp_path / "dryrun_metrics.prom").read_text())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""


def test_the_session_file_with_a_prefix_passes_promtool(tmp_path: Path) -> None:
    ids = [run_scenario(builtin_scenario(name), out_dir=tmp_path).run_id for name in BUILTIN_SCENARIOS]
    write_session(tmp_path, ids, metrics_prefix="peak")
    text = (tmp_path / "dryrun_metrics.prom").read_text()
    assert "# TYPE peak_orders_place_total counter" in text
    done = promtool_check(text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""


def test_promtool_would_catch_a_broken_exposition() -> None:
    done = promtool_check("# TYPE orders_place_total counter\norders_place_total{outcome=ok} 1\n")
    assert done.returncode != 0
