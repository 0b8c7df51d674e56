"""Bounded retries with deterministic backoff on the simulated clock.

A retry storm is a classic way for a dry run to pass and production to melt, so attempts
are bounded, the backoff is a pure function of the attempt number (no jitter from the wall
clock, no ``sleep``), and every retry is an event that ``retry_attempts_total{op,reason}``
counts and the ``max_retries_per_step`` rail watches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .clock import SimClock
from .errors import BrokerError, RetryableBrokerError, RetryReason

__all__ = ["RetryExhaustedError", "RetryListener", "RetryPolicy"]

T = TypeVar("T")

#: Called before each retry with (op, reason, attempt number of the retry, backoff in ms).
RetryListener = Callable[[str, str, int, int], None]


class RetryExhaustedError(BrokerError):
    """Every allowed attempt failed with a retryable error; ``last`` is the final one."""

    def __init__(self, op: str, attempts: int, last: RetryableBrokerError) -> None:
        super().__init__(f"{op}: gave up after {attempts} attempts: {type(last).__name__}: {last}")
        self.op = op
        self.attempts = attempts
        self.last = last
        self.reason: RetryReason = last.reason


class RetryPolicy(BaseModel):
    """``max_attempts`` tries in all; backoff ``base * multiplier**(n-1)`` ms, capped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=20)
    base_backoff_ms: int = Field(default=100, ge=0)
    multiplier: int = Field(default=2, ge=1, le=10)
    max_backoff_ms: int = Field(default=2_000, ge=0)

    def backoff_ms(self, retry_number: int) -> int:
        """Backoff before retry ``retry_number`` (1 for the first retry)."""
        backoff: int = self.base_backoff_ms * self.multiplier ** (retry_number - 1)
        return min(backoff, self.max_backoff_ms)

    def call(
        self,
        op: str,
        fn: Callable[[], T],
        *,
        clock: SimClock,
        on_retry: RetryListener | None = None,
    ) -> T:
        """Run ``fn``; on a retryable error wait on the simulated clock and try again."""
        try:
            return fn()
        except RetryableBrokerError as exc:
            return self.retry_after(op, fn, exc, clock=clock, on_retry=on_retry)

    def retry_after(
        self,
        op: str,
        fn: Callable[[], T],
        failed: RetryableBrokerError,
        *,
        clock: SimClock,
        on_retry: RetryListener | None = None,
    ) -> T:
        """:meth:`call` after its first attempt, which raised ``failed``.

        For a caller that makes the first attempt itself (the orchestrator, on the hot path,
        without building a closure per call) and hands over only when it failed: the same
        attempts, backoffs and ``on_retry`` calls as :meth:`call`.
        """
        attempt = 1
        exc = failed
        while True:
            if attempt >= self.max_attempts:
                raise RetryExhaustedError(op, attempt, exc) from exc
            backoff = self.backoff_ms(attempt)
            if on_retry is not None:
                on_retry(op, exc.reason.value, attempt, backoff)
            clock.advance_ms(backoff)
            attempt += 1
            try:
                return fn()
            except RetryableBrokerError as again:
                exc = again
