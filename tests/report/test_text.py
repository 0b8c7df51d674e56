"""Text for a terminal: the pytest session's table and where its mismatches came from."""

from __future__ import annotations

from pytest_peak_dryrun.report.rows import SessionRow
from pytest_peak_dryrun.report.text import mismatch_lines, terminal_table


def test_terminal_table(session_all: SessionRow) -> None:
    assert terminal_table(session_all) == [
        "run             final state              health    placed  filled  canceled  rejected  mismatches  rail trips",
        "tripwire        ERROR_REQUIRES_OPERATOR  failed         1       1         0         0           0           1",
        "failure_matrix  STOPPED                  degraded       6       6         0         0           3           0",
        "happy_path      STOPPED                  ok             5       5         0         0           0           0",
        "partial_fills   STOPPED                  ok             3       2         1         0           0           0",
    ]
    empty = session_all.model_copy(update={"runs": []})
    assert terminal_table(empty) == ["(no dry runs in this session)"]


def test_mismatch_lines_name_the_first_few_and_count_the_rest(
    session_all: SessionRow, session_many: SessionRow
) -> None:
    assert mismatch_lines(session_all) == [
        "MISMATCHES: failure_matrix: step 9 duplicate_fill O-000004; step 12 cancel_race O-000005; "
        "step 16 fill_qty_mismatch O-000006"
    ]
    assert mismatch_lines(session_many) == [
        "MISMATCHES: many_mismatches: step 1 duplicate_fill O-000001; step 2 duplicate_fill O-000002; "
        "step 3 duplicate_fill O-000003 (+22 more in the report)"
    ]
