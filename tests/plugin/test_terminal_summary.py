"""The compact table at the end of a session with --dryrun-snapshot."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

#: 25 duplicate fills, each a reconcile mismatch the rails tolerate.
DUPLICATES = """
name = "dups"
seed = 1
steps = 30

[instruments]
"DEMO-EUR" = "100.00"

[rails]
max_duplicate_fills = 1000

[[faults]]
step = 0
op = "fills"
kind = "duplicate_fill"
times = 25
""" + "".join(f'\n[[orders]]\nstep = {i}\ninstrument = "DEMO-EUR"\nside = "BUY"\nqty = "1"\n' for i in range(1, 28))


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
    result.stdout.re_match_lines(  # failed first, then degraded; where each mismatch came from
        [
            "=+ dry-run snapshots =+$",
            "^run                                  final state              health    placed  filled  canceled  rejected  mismatches  rail trips$",
            "^test_table-test_trip-de05754ef7b8    ERROR_REQUIRES_OPERATOR  failed         1       1         0         0           0           1$",
            "^test_table-test_matrix-a7700bcfab34  STOPPED                  degraded       6       6         0         0           3           0$",
            "^MISMATCHES: test_table-test_matrix-a7700bcfab34: step 9 duplicate_fill O-000004; step 12 cancel_race O-000005; step 16 fill_qty_mismatch O-000006$",
            f"^report: {re.escape(str(pytester.path / 'out' / 'dryrun_status_snapshot.md'))}$",
        ],
        consecutive=True,
    )


def test_more_mismatches_than_the_line_names(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", dryrun_dups=DUPLICATES)
    result = pytester.runpytest("--dryrun-snapshot=out", "--snapshot-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "MISMATCHES: dryrun_dups.toml-dryrun_dups-*: step 1 duplicate_fill O-000001; "
            "step 2 duplicate_fill O-000002; step 3 duplicate_fill O-000003 (+22 more in the report)"
        ]
    )


def test_no_table_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*dry-run snapshots*")
