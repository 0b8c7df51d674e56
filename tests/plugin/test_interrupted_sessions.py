"""Interruption-safe sessions (issue 12): a killed session never shows the previous verdict.

Before: after SIGTERM during a new session in a DIR holding an older complete session,
``peak-dryrun report`` printed the old "Verdict: OK" and exited 0; a run killed mid-write
left ``*.jsonl.tmp`` files that no later session removed; and pointing ``--dryrun-snapshot``
at an existing folder silently deleted its ``runs/*`` subfolders.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import make_run_id

pytest_plugins = ["pytester"]

HAPPY_RUN = make_run_id("test_happy.py::test_happy")
HANG_RUN = make_run_id("test_hang.py::test_hang")
LOOK_RUN = make_run_id("test_look.py::test_look_again")

HAPPY = """
def test_happy(dryrun):
    assert dryrun.health.status == "ok"
"""
# Stops in the middle of a run (events streaming to *.jsonl.tmp) until it is killed.
HANG_CONFTEST = """
import os
import time
from pathlib import Path


def pytest_dryrun_event(config, run_id, event):
    if "-test_hang-" in run_id and event.seq == 20:
        Path(os.environ["PEAK_TEST_STARTED"]).write_text("mid-run")
        time.sleep(120)
"""
HANG = """
import pytest


@pytest.mark.dryrun("failure_matrix")
def test_hang(dryrun):
    pass
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "PYTEST_ADDOPTS"}
    env.update(extra)
    return env


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_peak_dryrun", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )


def test_a_killed_session_never_shows_the_previous_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_happy=HAPPY)
    out = pytester.path / "out"
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=1)
    before = _cli("report", out)
    assert before.returncode == 0
    assert "Verdict: OK" in before.stdout

    pytester.makeconftest(HANG_CONFTEST)
    pytester.makepyfile(test_hang=HANG)
    started = pytester.path / "started"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--dryrun-snapshot=out",
            "test_happy.py",
            "test_hang.py",
        ],
        cwd=pytester.path,
        env=_env(PEAK_TEST_STARTED=str(started)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert proc.poll() is None, "the session ended before it was killed"
            assert time.monotonic() < deadline, "the session never reached the middle of its run"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(out.glob(f"runs/{HANG_RUN}/*.jsonl.tmp"))  # killed mid-write, as in the report

    after = _cli("report", out)
    assert after.returncode == 1
    assert "Verdict: OK" not in after.stdout
    assert "INCOMPLETE" in after.stdout
    assert "session in progress: it started but has not written its files (still running, or killed)" in after.stdout
    served = json.loads((out / "index.json").read_text())
    assert served["complete"] is False

    # the next session takes the directory back: our leftovers go, with a line saying so
    result = pytester.runpytest("--dryrun-snapshot=out", "test_happy.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"cleaned {out} at session start: removed 2 run folder(s) and 2 temporary file(s) of an interrupted"
            " write of an earlier session"
        ]
    )
    assert not list(out.rglob("*.tmp"))
    assert sorted(p.name for p in (out / "runs").iterdir()) == [HAPPY_RUN]
    assert _cli("report", out).returncode == 0
    checked = _cli("validate", out)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_index_says_in_progress_before_any_run_writes(pytester: pytest.Pytester, workers: list[str]) -> None:
    pytester.makepyfile(test_happy=HAPPY)
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=1)
    pytester.makepyfile(
        test_look="""
        import json
        from pathlib import Path

        def test_look_first():
            index = json.loads(Path("out/index.json").read_text())
            assert index["complete"] is False
            assert index["runs"] == []
            assert index["problems"][0].startswith("session in progress")
            assert not Path("out/dryrun_status_snapshot.md").exists()  # no old report to read meanwhile

        def test_look_again(dryrun):
            test_look_first()
        """
    )
    result = pytester.runpytest("--dryrun-snapshot=out", "-p", "no:randomly", *workers)
    result.assert_outcomes(passed=3)
    index = json.loads((pytester.path / "out" / "index.json").read_text())
    assert index["complete"] is True
    assert [r["run_id"] for r in index["runs"]] == [HAPPY_RUN, LOOK_RUN]


@pytest.mark.parametrize(
    "layout",
    [
        {"notes.txt": "mine"},
        {"runs/photos/cat.jpg": "meow", "runs/empty/.keep": ""},
        {"runs/old-run/health.json": "{}", "runs/old-run/events.jsonl": ""},  # looks like ours, no index says so
    ],
    ids=["top-level file", "folders under runs", "run-like folder without our index"],
)
def test_a_dir_holding_files_we_did_not_write_is_a_usage_error(
    pytester: pytest.Pytester, layout: dict[str, str]
) -> None:
    target = pytester.path / "existing"
    for rel, text in layout.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(text)
    before = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    pytester.makepyfile(test_happy=HAPPY)
    result = pytester.runpytest("--dryrun-snapshot=existing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --dryrun-snapshot: {target} holds files pytest-peak-dryrun did not write (*); it never "
            "deletes them. Pass a new or empty directory, or one that only earlier dry-run sessions wrote to"
        ]
    )
    result.stdout.no_fnmatch_line("*passed*")
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == before
    for rel, text in layout.items():
        assert (target / rel).read_text() == text


def test_a_stranger_inside_an_earlier_session_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_happy=HAPPY)
    out = pytester.path / "out"
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=1)
    (out / "runs" / HAPPY_RUN / "notes.txt").write_text("mine")
    result = pytester.runpytest("--dryrun-snapshot=out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*did not write (runs/{HAPPY_RUN}/notes.txt); it never deletes them.*"])
    assert (out / "runs" / HAPPY_RUN / "health.json").is_file()


def test_the_project_directory_itself_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_happy=HAPPY)
    result = pytester.runpytest("--dryrun-snapshot=.")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (pytester.path / "test_happy.py").is_file()


def test_help_never_touches_the_dir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_happy=HAPPY)
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=1)
    index = (pytester.path / "out" / "index.json").read_bytes()
    assert pytester.runpytest("--dryrun-snapshot=out", "--help").ret == 0
    assert (pytester.path / "out" / "index.json").read_bytes() == index
    assert (pytester.path / "out" / "dryrun_status_snapshot.md").is_file()
