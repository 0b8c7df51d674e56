"""The bad-input matrix: each mistake a user can make ends in one clear message and no half file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("bad.json", '{"name": "x", "steps": 3,', "*bad.json: malformed JSON: Expecting * at line 1 column *"),
        ("bad.json", '{"name": "x", "steps": 3, "color": "red"}', "*bad.json: color: unknown field"),
        (
            "bad.toml",
            'name = "x"\nsteps = 3\n[rails]\nmax_order_qty = "lots"\n',
            "*bad.toml: rails.max_order_qty: Input should be a valid decimal",
        ),
        ("bad.toml", 'name = "x"\nsteps = -5\n', "*bad.toml: steps: Input should be greater than or equal to 0"),
        (
            "bad.toml",
            "name = 'x'\nsteps = 3\n[[faults]]\nstep = 2\nop = 'place'\nkind = 'duplicate_fill'\n",
            "*bad.toml: faults?0?: fault 'duplicate_fill' cannot be attached to op 'place'; use op 'fills'",
        ),
    ],
)
def test_a_bad_scenario_behind_the_marker_is_one_line(
    pytester: pytest.Pytester, name: str, text: str, line: str
) -> None:
    (pytester.path / name).write_text(text)
    pytester.makepyfile(
        test_marked=f"""
        import pytest

        @pytest.mark.dryrun({name!r})
        def test_a(dryrun):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"test_marked.py::test_a: @pytest.mark.dryrun: {line}"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling*")


def test_a_scenario_file_above_the_step_bound_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndryrun_max_steps = 100\n")
    (pytester.path / "dryrun_long.toml").write_text('name = "long"\nsteps = 5000\n')
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*dryrun_long.toml: steps: 5000 is above the configured bound 100 (ini dryrun_max_steps)"]
    )


def test_a_read_only_dir_is_a_usage_error(pytester: pytest.Pytester) -> None:
    target = pytester.path / "readonly"
    target.mkdir()
    if os.geteuid() == 0:
        # root writes anywhere: simulate the refusal at the one call the probe makes
        pytester.makeconftest(
            """
            import tempfile

            _real = tempfile.mkstemp

            def refusing(*args, dir=None, **kwargs):
                if dir is not None and str(dir).endswith("readonly"):
                    raise PermissionError(13, "Permission denied")
                return _real(*args, dir=dir, **kwargs)

            tempfile.mkstemp = refusing
            """
        )
    else:  # pragma: no cover - CI runs as root
        target.chmod(0o555)
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest("--dryrun-snapshot=readonly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --dryrun-snapshot: cannot write to directory {target}: Permission denied"])
    result.stdout.no_fnmatch_line("*passed*")


def test_an_interrupted_run_leaves_no_half_written_file(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_dryrun_event(config, run_id, event):
            if "-test_b-" in run_id and event.seq == 25:
                raise KeyboardInterrupt
        """
    )
    pytester.makepyfile(
        test_stop="""
        import pytest

        @pytest.mark.dryrun("happy_path")
        def test_a(dryrun):
            pass

        @pytest.mark.dryrun("failure_matrix")
        def test_b(dryrun):
            pass

        def test_c(dryrun):
            pass
        """
    )
    result = pytester.runpytest_subprocess("--dryrun-snapshot=out")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = pytester.path / "out"
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert not [f for f in files if f.endswith(".tmp") or "/." in f], files
    assert not (out / "runs" / "test_stop-test_b-a661c03dcc20").exists()  # the interrupted run left nothing behind
    index = json.loads((out / "index.json").read_text())
    assert [r["run_id"] for r in index["runs"]] == ["test_stop-test_a-865392be4e7f"]
    assert index["complete"] is False
    assert index["problems"] == ["session interrupted before every test ran"]
    for name in index["files"]:
        assert (out / name).is_file()


def test_no_secret_reaches_any_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    canaries = {
        "env": "CANARY-ENV-7f3a9c1e",
        "metadata": "CANARY-META-51d2b8aa",
        "text": "CANARY-TEXT-0c4e6f12",
    }
    monkeypatch.setenv("BROKER_API_TOKEN", canaries["env"])
    (pytester.path / "secretive.toml").write_text(
        f"""
        name = "secretive"
        steps = 8

        [metadata]
        api_key = "{canaries["metadata"]}"
        note = "account {canaries["metadata"]}"

        [[orders]]
        step = 1
        instrument = "DEMO-EUR"
        side = "BUY"
        qty = "1"
        text = "operator note {canaries["text"]}"

        [[orders]]
        step = 2
        instrument = "DEMO-EUR"
        side = "BUY"
        qty = "0"
        text = "{canaries["text"]} with a reject"
        """.replace("\n        ", "\n")
    )
    pytester.makepyfile(
        test_secret="""
        import os, pytest

        @pytest.mark.dryrun("secretive.toml")
        def test_a(dryrun, dryrun_snapshot):
            assert os.environ["BROKER_API_TOKEN"]
            assert dryrun_snapshot == dryrun.report
        """
    )
    result = pytester.runpytest(
        "--dryrun-snapshot=out", "--snapshot-update", "--json-report", "--json-report-file=out/report.json"
    )
    result.assert_outcomes(passed=1)
    written = [
        p for p in Path(pytester.path).rglob("*") if p.is_file() and p.name != "secretive.toml" and p.suffix != ".pyc"
    ]
    assert any(p.name == "events.jsonl" for p in written)
    for path in written:
        data = path.read_bytes()
        for where, canary in canaries.items():
            assert canary.encode() not in data, f"{where} canary leaked into {path}"
