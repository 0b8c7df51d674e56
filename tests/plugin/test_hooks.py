"""The pytest_dryrun_* hookspecs, each exercised through a real inner pytest run."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def test_make_broker_is_firstresult_and_conftest_scoped(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_dryrun_make_broker(config, scenario, clock):
            return None  # let the next implementation decide
        """
    )
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(
        "from pytest_peak_dryrun import MockBroker\n\n"
        "class Mine(MockBroker):\n    pass\n\n"
        "def pytest_dryrun_make_broker(config, scenario, clock):\n"
        "    return Mine(scenario.broker_config(), clock=clock)\n"
    )
    (sub / "test_sub.py").write_text(
        "def test_mine(mock_broker, dryrun):\n    assert type(mock_broker).__name__ == 'Mine'\n"
    )
    pytester.makepyfile(
        test_top="def test_default(mock_broker):\n    assert type(mock_broker).__name__ == 'MockBroker'\n"
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_event_hook_sees_every_event_in_order(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        SEEN = []

        def pytest_dryrun_event(config, run_id, event):
            SEEN.append((run_id, event.seq, event.kind))
        """
    )
    pytester.makepyfile(
        """
        import conftest

        def test_events(dryrun):
            mine = [s for r, s, k in conftest.SEEN if r == dryrun.run_id]
            assert mine == [e.seq for e in dryrun.events]
            assert [k for _, _, k in conftest.SEEN] == [e.kind for e in dryrun.events]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_modify_report_changes_what_is_written_and_compared(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_dryrun_modify_report(config, run_id, report):
            report.pop("cash")
            report["team"] = "execution"
        """
    )
    pytester.makepyfile(
        test_modified="""
        def test_report(dryrun, dryrun_snapshot):
            assert "cash" not in dryrun.report
            assert dryrun.report["team"] == "execution"
            assert dryrun_snapshot == dryrun.report
        """
    )
    pytester.runpytest("--snapshot-update", "--dryrun-snapshot=out").assert_outcomes(passed=1)
    written = json.loads((pytester.path / "out/runs/test_modified-test_report-a8cadfcd52c8/report.json").read_text())
    assert written["team"] == "execution"
    assert "cash" not in written
    golden = json.loads((pytester.path / "__dryrun_snapshots__/test_modified/test_report.json").read_text())
    assert golden == written


def test_snapshots_written_is_called_once_with_every_file(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        CALLS = []

        def pytest_dryrun_snapshots_written(config, out_dir, files):
            CALLS.append((out_dir, files))

        def pytest_unconfigure(config):
            assert len(CALLS) == 1, CALLS
            out_dir, files = CALLS[0]
            names = [str(f.relative_to(out_dir)) for f in files]
            assert names == sorted(names)
            assert "index.json" in names and "dryrun_status_snapshot.md" in names
            assert "runs/test_hooked-test_a-feb487555258/events.jsonl" in names
            print("HOOK-OK", len(names))
        """
    )
    pytester.makepyfile(test_hooked="def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest_subprocess("--dryrun-snapshot=out", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["HOOK-OK *"])


def test_hooks_are_not_called_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_dryrun_snapshots_written(config, out_dir, files):
            raise AssertionError("must not be called")
        """
    )
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)


# -- our hooks in a conftest must survive -p no:peak_dryrun (PITFALLS 14) -----------------------

REPO = Path(__file__).resolve().parents[2]


def _hook_names() -> tuple[str, ...]:
    from pytest_peak_dryrun import hookspecs

    return tuple(sorted(name for name in vars(hookspecs) if name.startswith("pytest_dryrun_")))


#: Every hook of ours, read from the hookspecs module (a new hook is covered without editing this).
HOOK_NAMES = _hook_names()


def published_hook_examples() -> dict[str, str]:
    """Every hook example we publish, as the code a user would paste into a conftest."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Hooks\n") :]
    block = section[section.index("```python\n") + len("```python\n") : section.index("\n```\n")]
    examples = {"README.md ## Hooks": block, "examples/conftest.py": (REPO / "examples" / "conftest.py").read_text()}
    from pytest_peak_dryrun import hookspecs

    for name in HOOK_NAMES:
        doc = getattr(hookspecs, name).__doc__ or ""
        example = doc[doc.index("Example::\n") + len("Example::\n") :]
        examples[f"hookspecs.{name}"] = textwrap.dedent(example)
    return examples


@pytest.mark.parametrize("where", list(published_hook_examples()))
def test_every_published_hook_example_survives_the_plugin_being_disabled(pytester: pytest.Pytester, where: str) -> None:
    code = published_hook_examples()[where]
    implemented = [name for name in HOOK_NAMES if f"def {name}(" in code]
    assert implemented, f"{where} shows no hook"
    assert code.count("@pytest.hookimpl(optionalhook=True)") == len(implemented), where
    if "paper_adapter" in code:
        pytester.makepyfile(paper_adapter="class PaperVenueAdapter:\n    pass\n")
    pytester.makeconftest(("import pytest\n" if "import pytest" not in code else "") + code)
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:peak_dryrun")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)


OUR_HOOKS = """
import pytest
from pytest_peak_dryrun import MockBroker

CALLED = []


class Mine(MockBroker):
    pass


@pytest.hookimpl(optionalhook=True)
def pytest_dryrun_make_broker(config, scenario, clock):
    return Mine(scenario.broker_config(), clock=clock)


@pytest.hookimpl(optionalhook=True)
def pytest_dryrun_modify_report(config, run_id, report):
    CALLED.append(run_id)
"""


def test_optional_hooks_still_run_with_the_plugin_and_are_ignored_without_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(OUR_HOOKS)
    pytester.makepyfile(
        test_a="""
        import pytest

        def test_plain():
            pass

        @pytest.mark.dryrun("happy_path")
        def test_dry(dryrun, mock_broker):
            import conftest
            assert type(mock_broker).__name__ == "Mine" and conftest.CALLED == [dryrun.run_id]
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=2)
    result = pytester.runpytest_subprocess("-p", "no:peak_dryrun", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'dryrun' not found*"])


def test_without_optionalhook_the_disabled_plugin_is_an_internal_error(pytester: pytest.Pytester) -> None:
    # What the examples avoid: the reason every published example carries optionalhook=True.
    pytester.makeconftest("def pytest_dryrun_event(config, run_id, event):\n    pass\n")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:peak_dryrun")
    result.stdout.fnmatch_lines(["INTERNALERROR> *unknown hook 'pytest_dryrun_event' in plugin <module 'conftest'*"])
