"""Simulated clock: the only source of time in a dry run.

Artifacts must be byte-identical from run to run, so nothing in the core reads the wall
clock. Time is an integer number of milliseconds since a fixed epoch; a step is a fixed
number of milliseconds, and a retry backoff advances the clock inside a step instead of
sleeping.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_EPOCH_MS", "DEFAULT_STEP_MS", "SimClock"]

#: 2026-01-18T00:00:00Z, the date of the runbook this product implements.
DEFAULT_EPOCH_MS: Final = 1_768_694_400_000
DEFAULT_STEP_MS: Final = 1_000


class SimClock:
    """A deterministic clock that only moves when the dry run moves it.

    ``step`` counts the bounded loop's iterations (0 before the first step). ``now_ms`` is
    ``epoch_ms + step * step_ms`` plus any backoff spent inside the current step, and never
    goes backwards.
    """

    __slots__ = ("_now_ms", "epoch_ms", "step", "step_ms")

    def __init__(self, *, epoch_ms: int = DEFAULT_EPOCH_MS, step_ms: int = DEFAULT_STEP_MS) -> None:
        if step_ms <= 0:
            raise ValueError(f"step_ms must be positive, got {step_ms}")
        self.epoch_ms = epoch_ms
        self.step_ms = step_ms
        self.step = 0
        self._now_ms = epoch_ms

    @property
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch on the simulated timeline."""
        return self._now_ms

    def now(self) -> float:
        """Seconds since the Unix epoch on the simulated timeline (what gauges report)."""
        return self._now_ms / 1000

    def advance_step(self) -> int:
        """Move to the next step and return its number."""
        self.step += 1
        self._now_ms = max(self._now_ms, self.epoch_ms + self.step * self.step_ms)
        return self.step

    def advance_ms(self, ms: int) -> None:
        """Spend ``ms`` milliseconds inside the current step (a retry backoff, never a sleep)."""
        if ms < 0:
            raise ValueError(f"cannot move the clock backwards by {ms} ms")
        self._now_ms += ms

    def __repr__(self) -> str:
        return f"SimClock(step={self.step}, now_ms={self._now_ms})"
