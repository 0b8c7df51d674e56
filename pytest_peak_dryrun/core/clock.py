"""Simulated clock: the only source of time in a dry run.

Artifacts must be byte-identical from run to run, so nothing in the core reads the wall
clock. Time is an integer number of milliseconds since a fixed epoch; a step is a fixed
number of milliseconds, and a retry backoff advances the clock inside a step instead of
sleeping.

One clock per run, and one documented way for it to reach a broker (the README's "Bring
your own broker"): the broker runs on the run's clock and says so with ``.clock``, or it
implements ``on_step(step)`` and the orchestrator calls it whenever the step advances.
:func:`run_clock` picks the run's clock and :func:`check_broker_clock` is the preflight's
check that the broker really follows it (never a frozen venue, never a second clock).
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_EPOCH_MS", "DEFAULT_STEP_MS", "SimClock", "check_broker_clock", "run_clock"]

#: 2026-01-18T00:00:00Z, the date of the runbook this product implements.
DEFAULT_EPOCH_MS: Final = 1_768_694_400_000
DEFAULT_STEP_MS: Final = 1_000


class SimClock:
    """A deterministic clock that only moves when the dry run moves it.

    ``step`` counts the bounded loop's iterations (0 before the first step). ``now_ms`` is
    ``epoch_ms + step * step_ms`` plus any backoff spent inside the current step, and never
    goes backwards. Both are plain attributes to read (the event stream reads ``now_ms`` for
    every event, and a property would cost a Python call each time); the clock moves only
    through :meth:`advance_step` and :meth:`advance_ms`.
    """

    __slots__ = ("epoch_ms", "now_ms", "step", "step_ms")

    def __init__(self, *, epoch_ms: int = DEFAULT_EPOCH_MS, step_ms: int = DEFAULT_STEP_MS) -> None:
        if step_ms <= 0:
            raise ValueError(f"step_ms must be positive, got {step_ms}")
        self.epoch_ms = epoch_ms
        self.step_ms = step_ms
        self.step = 0
        #: milliseconds since the Unix epoch on the simulated timeline (read it; do not set it)
        self.now_ms = epoch_ms

    def now(self) -> float:
        """Seconds since the Unix epoch on the simulated timeline (what gauges report)."""
        return self.now_ms / 1000

    def advance_step(self) -> int:
        """Move to the next step and return its number."""
        self.step += 1
        self.now_ms = max(self.now_ms, self.epoch_ms + self.step * self.step_ms)
        return self.step

    def advance_ms(self, ms: int) -> None:
        """Spend ``ms`` milliseconds inside the current step (a retry backoff, never a sleep)."""
        if ms < 0:
            raise ValueError(f"cannot move the clock backwards by {ms} ms")
        self.now_ms += ms

    def __repr__(self) -> str:
        return f"SimClock(step={self.step}, now_ms={self.now_ms})"


def run_clock(broker: object, clock: SimClock | None = None) -> SimClock:
    """The run's clock: ``clock`` if given, else the broker's own SimClock, else a fresh one.

    Adopting the broker's ``.clock`` keeps ``run_scenario(s, broker=MockBroker(cfg, clock=c))``
    on ``c``. A ``clock`` given beside a broker running on another SimClock is not resolved
    here: :func:`check_broker_clock` fails the preflight, naming both.
    """
    if clock is not None:
        return clock
    own = getattr(broker, "clock", None)
    return own if isinstance(own, SimClock) else SimClock()


def check_broker_clock(broker: object, clock: SimClock) -> tuple[bool, str]:
    """The preflight's ``broker_clock`` check: does ``broker`` follow the run's ``clock``?"""
    name = type(broker).__name__
    own = getattr(broker, "clock", None)
    follows = callable(getattr(broker, "on_step", None))
    if own is clock:
        return True, f"{name} runs on the run's clock"
    if isinstance(own, SimClock):
        return False, (
            f"{name}.clock is a SimClock other than the run's, so its venue would stand still: "
            "build the broker with the clock the hook or fixture hands you (MockBroker(..., clock=clock)), "
            "or pass that same clock to run_scenario(clock=...)"
        )
    if follows:
        return True, f"{name} follows the run's clock through on_step(step)"
    if own is not None:
        return False, (
            f"{name}.clock is a {type(own).__name__}, not the run's SimClock, and {name} has no on_step(step): "
            "expose the run's SimClock as .clock, or implement on_step(step) to move your venue to each step"
        )
    return False, (
        f"{name} has neither .clock nor on_step(step), so nothing moves its venue when the run's clock advances: "
        "expose the venue's clock (self.clock = venue.clock, built with the clock the hook or fixture hands you) "
        "or implement on_step(step)"
    )
