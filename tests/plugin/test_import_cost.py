"""The plugin module is cheap: pytest loads it in every run of every environment that has it."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

HEAVY = ("pydantic", "prometheus_client", "syrupy", "pytest_peak_dryrun.core")


def test_importing_the_plugin_imports_no_heavy_module() -> None:
    code = (
        "import sys, pytest_peak_dryrun.plugin\n"
        f"heavy = [m for m in sys.modules if m.startswith({HEAVY!r})]\n"
        "print(sorted(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_suite_without_dryrun_fixtures_never_loads_the_core(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            ours = sorted(m for m in sys.modules if m.startswith(("pytest_peak_dryrun", "prometheus_client")))
            print("LOADED", ",".join(ours))
        """
    )
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-s", "-p", "no:syrupy", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "LOADED pytest_peak_dryrun,pytest_peak_dryrun.harness,pytest_peak_dryrun.harness.session,pytest_peak_dryrun.hookspecs,pytest_peak_dryrun.plugin"
        ]
    )


def test_the_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:peak_dryrun")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'dryrun' not found*"])
