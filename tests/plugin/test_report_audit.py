"""Each run's report (and so its golden file) carries the audit chain's head; a hook cannot drop it.

A report a ``pytest_dryrun_modify_report`` hook changed is marked ``modified_by_hook``, and
``peak-dryrun validate`` says (as a note, exit 0) that it can only check its audit head.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest

from pytest_peak_dryrun.cli import main

AUDIT_KEY_ENV = "PEAK_DRYRUN_AUDIT_KEY"
TEST_FILE = """
import pytest


@pytest.mark.dryrun("happy_path")
def test_run(dryrun, dryrun_snapshot):
    assert dryrun_snapshot == dryrun.report
"""
RUN_ID = "test_audited-test_run"


def _validate(directory: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["validate", str(directory)])
    return rc, out.getvalue(), err.getvalue()


def _head(audit: Path) -> str:
    """sha256 of the last line without its MAC and without its event's run id member."""
    line = audit.read_text(encoding="utf-8").splitlines()[-1]
    if ',"hmac_sha256":"' in line:
        start = line.index(',"hmac_sha256":"')
        line = line[:start] + line[start + 81 :]
    member = f'"run_id":"{audit.parent.name}",'
    assert line.count(member) == 1
    return hashlib.sha256(line.replace(member, "").encode()).hexdigest()


def _run_dir(pytester: pytest.Pytester, out: str = "out") -> Path:
    runs = sorted((pytester.path / out / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def test_golden_holds_the_head_and_validate_checks_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_audited=TEST_FILE)
    pytester.runpytest("--snapshot-update", "--dryrun-snapshot=out").assert_outcomes(passed=1)
    run = _run_dir(pytester)
    golden = json.loads((pytester.path / "__dryrun_snapshots__/test_audited/test_run.json").read_text())
    written = json.loads((run / "report.json").read_text())
    assert golden == written
    lines = (run / "audit.jsonl").read_text().splitlines()
    assert golden["audit"] == {"events": len(lines), "head_sha256": _head(run / "audit.jsonl")}
    assert "modified_by_hook" not in golden
    assert _validate(pytester.path / "out") == (0, f"{pytester.path / 'out'}: ok\n", "")


def test_golden_is_the_same_when_ci_sets_a_key(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_audited=TEST_FILE)
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    pytester.runpytest("--snapshot-update", "--dryrun-snapshot=plain").assert_outcomes(passed=1)
    monkeypatch.setenv(AUDIT_KEY_ENV, "ci-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    result = pytester.runpytest("--dryrun-snapshot=keyed")  # compared with the unkeyed golden: no update
    result.assert_outcomes(passed=1)
    keyed = _run_dir(pytester, "keyed")
    assert all('"hmac_sha256":"' in line for line in (keyed / "audit.jsonl").read_text().splitlines())
    assert (keyed / "report.json").read_bytes() == (_run_dir(pytester, "plain") / "report.json").read_bytes()
    assert "seal" in json.loads((pytester.path / "keyed/index.json").read_text())
    assert _validate(pytester.path / "keyed") == (0, f"{pytester.path / 'keyed'}: ok\n", "")


def test_modified_report_is_marked_and_validate_notes_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_dryrun_modify_report(config, run_id, report):
            report.pop("cash")
            report["team"] = "execution"
            report["audit"] = "mine"  # set after the hook: a hook cannot drop the evidence
        """
    )
    pytester.makepyfile(test_audited=TEST_FILE)
    pytester.runpytest("--snapshot-update", "--dryrun-snapshot=out").assert_outcomes(passed=1)
    run = _run_dir(pytester)
    written = json.loads((run / "report.json").read_text())
    assert written["modified_by_hook"] is True
    assert written["team"] == "execution"
    assert "cash" not in written
    assert written["audit"]["head_sha256"] == _head(run / "audit.jsonl")
    out_dir = pytester.path / "out"
    rc, out, err = _validate(out_dir)
    assert (rc, err) == (0, "")
    assert out.splitlines() == [
        f"{out_dir}/runs/{run.name}/report.json: note: changed by a pytest_dryrun_modify_report hook: "
        "only its schema and its audit head can be checked",
        f"{out_dir}: ok (1 note(s) above)",
    ]
    # the note does not excuse a wrong head
    report = run / "report.json"
    report.write_text(report.read_text().replace(written["audit"]["head_sha256"], "b" * 64))
    rc, out, _ = _validate(out_dir)
    assert rc == 1
    assert f"{out_dir}/runs/{run.name}/report.json: audit.head_sha256 is {'b' * 64} but the head" in out


def test_a_hook_that_changes_nothing_does_not_mark_the_report(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        SEEN = []

        def pytest_dryrun_modify_report(config, run_id, report):
            SEEN.append(report["final_state"])
            report["cash"] = report["cash"]
        """
    )
    pytester.makepyfile(test_audited=TEST_FILE)
    pytester.runpytest("--dryrun-snapshot=out", "--snapshot-update").assert_outcomes(passed=1)
    written = json.loads((_run_dir(pytester) / "report.json").read_text())
    assert "modified_by_hook" not in written
    assert _validate(pytester.path / "out")[0] == 0
