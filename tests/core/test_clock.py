"""The simulated clock: steps, backoff inside a step, never backwards."""

from __future__ import annotations

import pytest

from pytest_peak_dryrun.core.clock import DEFAULT_EPOCH_MS, DEFAULT_STEP_MS, SimClock


def test_defaults() -> None:
    clock = SimClock()
    assert clock.step == 0
    assert clock.now_ms == DEFAULT_EPOCH_MS == 1_768_694_400_000
    assert clock.now() == 1_768_694_400.0
    assert DEFAULT_STEP_MS == 1_000


def test_advance_step_and_backoff() -> None:
    clock = SimClock(epoch_ms=10_000, step_ms=500)
    assert clock.advance_step() == 1
    assert clock.now_ms == 10_500
    clock.advance_ms(120)
    assert clock.now_ms == 10_620
    assert clock.step == 1
    assert clock.advance_step() == 2
    assert clock.now_ms == 11_000
    assert repr(clock) == "SimClock(step=2, now_ms=11000)"


def test_a_long_backoff_is_never_undone_by_the_next_step() -> None:
    clock = SimClock(epoch_ms=0, step_ms=100)
    clock.advance_step()
    clock.advance_ms(250)
    assert clock.now_ms == 350
    clock.advance_step()
    assert clock.step == 2
    assert clock.now_ms == 350  # not back to 200
    clock.advance_step()
    assert clock.now_ms == 350
    clock.advance_step()
    assert clock.now_ms == 400


def test_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="step_ms must be positive, got 0"):
        SimClock(step_ms=0)
    clock = SimClock()
    with pytest.raises(ValueError, match="cannot move the clock backwards by -1 ms"):
        clock.advance_ms(-1)
