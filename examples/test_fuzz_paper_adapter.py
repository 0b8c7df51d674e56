"""Deterministic simulation testing of our own adapter: generated scenarios, the oracle after each.

``dryrun_fuzz`` runs 500 scenarios drawn by ``pytest_peak_dryrun.strategies.scenarios()``
through the broker the ``pytest_dryrun_make_broker`` hook of ``conftest.py`` makes (the
paper adapter), checks every invariant after each run, and on a violation fails with the
scenario hypothesis shrank it to, written beside this file as a ``dryrun_*.toml``
reproducer. The same seed explores the same scenarios everywhere (``--dryrun-fuzz-seed`` and
``--dryrun-fuzz-examples`` change them for a whole session, a nightly job for instance).
"""

from __future__ import annotations

from pytest_peak_dryrun import Violation
from pytest_peak_dryrun.strategies import scenarios


def test_fuzz_the_paper_adapter(dryrun_fuzz):
    report = dryrun_fuzz()
    assert report.examples == 500


def never_short(result):
    """An invariant of our own: this desk never sells what it does not hold."""
    return [
        Violation("never_short", f"position {qty} in {symbol}")
        for symbol, qty in result.status.positions.items()
        if qty < 0
    ]


def test_fuzz_a_buying_desk_with_an_invariant_of_our_own(dryrun_fuzz):
    # a narrower strategy: buy orders only, at most two, the partial fill model, no fault rate
    strategy = scenarios(sides=["BUY"], max_orders=2, fill_models=["partial"], fault_rate=False)
    dryrun_fuzz(strategy, examples=50, invariants=[never_short])
