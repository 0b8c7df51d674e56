"""The compact table at the end of a session with --dryrun-snapshot."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_one_table_and_the_report_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_table="""
        import pytest

        @pytest.mark.dryrun("failure_matrix")
        def test_matrix(dryrun):
            pass

        @pytest.mark.dryrun("tripwire")
        def test_trip(dryrun):
            pass
        """
    )
    result = pytester.runpytest("--dryrun-snapshot=out")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= dry-run snapshots =*",
            "run                                  final state              placed  filled  canceled  rejected  mismatches  rail trips",
            "test_table-test_matrix-a7700bcfab34  STOPPED                       6       6         0         0           3           0",
            "test_table-test_trip-de05754ef7b8    ERROR_REQUIRES_OPERATOR       1       1         0         0           0           1",
            f"report: {pytester.path / 'out' / 'dryrun_status_snapshot.md'}",
        ]
    )


def test_no_table_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*dry-run snapshots*")
