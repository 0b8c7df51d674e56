"""ini ``dryrun_metrics_prefix``: a namespace for the metric names of ``dryrun_metrics.prom`` only."""

from __future__ import annotations

import json

import pytest

from pytest_peak_dryrun.cli import main

pytest_plugins = ["pytester"]

TESTS = """
import pytest

@pytest.mark.dryrun("failure_matrix")
def test_matrix(dryrun):
    pass
"""


def _session(pytester: pytest.Pytester, ini: str) -> pytest.RunResult:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_prefix=TESTS)
    return pytester.runpytest("--dryrun-snapshot=out")


def test_the_prom_file_carries_the_prefix_and_the_json_files_do_not(pytester: pytest.Pytester) -> None:
    _session(pytester, "dryrun_metrics_prefix = peak").assert_outcomes(passed=1)
    out = pytester.path / "out"
    prom = (out / "dryrun_metrics.prom").read_text()
    assert "# TYPE peak_orders_place_total counter" in prom
    assert 'peak_orders_place_total{outcome="ok",run="test_prefix-test_matrix-' in prom
    assert "\norders_place_total" not in prom
    metrics = json.loads((out / "dryrun_metrics_snapshot.json").read_text())
    assert metrics["session"]["counters"]['orders_place_total{outcome="ok"}'] == 6  # the runbook's names
    index = json.loads((out / "index.json").read_text())
    assert index["metrics_prefix"] == "peak"
    assert main(["validate", str(out)]) == 0  # validate renders the same text with the recorded prefix


def test_without_the_ini_nothing_changes(pytester: pytest.Pytester) -> None:
    _session(pytester, "").assert_outcomes(passed=1)
    out = pytester.path / "out"
    assert "\norders_place_total{" in (out / "dryrun_metrics.prom").read_text()
    assert "metrics_prefix" not in json.loads((out / "index.json").read_text())


def test_an_edited_prefix_in_the_index_is_a_finding(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    _session(pytester, "dryrun_metrics_prefix = peak").assert_outcomes(passed=1)
    out = pytester.path / "out"
    index_path = out / "index.json"
    index = json.loads(index_path.read_text())
    index["metrics_prefix"] = "other"
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    capsys.readouterr()
    assert main(["validate", str(out)]) == 1
    assert "dryrun_metrics.prom: differs from what the run files render" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["peak-dryrun", "peak_", "1peak"])
def test_a_bad_prefix_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    result = _session(pytester, f"dryrun_metrics_prefix = {value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: ini dryrun_metrics_prefix: {value!r} is not a metric-name prefix: letters, digits and underscores*"]
    )
