"""A misspelt metric lookup in a user's dry-run test: one line naming what exists (issue 14)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_typo_in_a_dryrun_test_fails_on_the_users_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.dryrun("happy_path")
        def test_counts(dryrun):
            assert dryrun.metrics.value("orders_place_total", outcom="ok") == 0
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       assert dryrun.metrics.value("orders_place_total", outcom="ok") == 0',
            "E       pytest_peak_dryrun.core.metrics.UnknownMetricError: metric orders_place_total has labels (outcome); got (outcom)",
        ]
    )
    assert "snapshots.py" not in result.stdout.str()
