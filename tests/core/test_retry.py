"""RetryPolicy: bounded attempts, deterministic backoff on the simulated clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.errors import (
    BrokerError,
    BrokerTimeoutError,
    InvalidOrderError,
    OrderRejectedError,
    RateLimitError,
    TransientUnavailableError,
    UnknownOrderError,
)
from pytest_peak_dryrun.core.retry import RetryExhaustedError, RetryPolicy


class Flaky:
    """Raises the given errors in turn, then returns ``result``."""

    def __init__(self, errors: list[BrokerError], result: str = "done") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def _listener() -> tuple[list[tuple[str, str, int, int]], Callable[[str, str, int, int], None]]:
    seen: list[tuple[str, str, int, int]] = []

    def on_retry(op: str, reason: str, attempt: int, backoff_ms: int) -> None:
        seen.append((op, reason, attempt, backoff_ms))

    return seen, on_retry


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_backoff_ms, policy.multiplier, policy.max_backoff_ms) == (3, 100, 2, 2000)


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(base_backoff_ms=100, multiplier=3, max_backoff_ms=1_000)
    assert [policy.backoff_ms(n) for n in range(1, 6)] == [100, 300, 900, 1_000, 1_000]
    assert [RetryPolicy().backoff_ms(n) for n in range(1, 7)] == [100, 200, 400, 800, 1_600, 2_000]


def test_first_try_success_does_not_touch_the_clock() -> None:
    clock = SimClock()
    seen, on_retry = _listener()
    fn = Flaky([])
    assert RetryPolicy().call("place", fn, clock=clock, on_retry=on_retry) == "done"
    assert fn.calls == 1
    assert seen == []
    assert clock.now_ms == clock.epoch_ms


def test_retries_advance_the_clock_by_exactly_the_backoff_sum() -> None:
    clock = SimClock()
    clock.advance_step()
    start = clock.now_ms
    seen, on_retry = _listener()
    fn = Flaky([RateLimitError("a"), BrokerTimeoutError("b"), TransientUnavailableError("c")])
    policy = RetryPolicy(max_attempts=4, base_backoff_ms=50, multiplier=2)
    assert policy.call("cancel", fn, clock=clock, on_retry=on_retry) == "done"
    assert fn.calls == 4
    assert seen == [
        ("cancel", "rate_limit", 1, 50),
        ("cancel", "timeout", 2, 100),
        ("cancel", "transient_unavailable", 3, 200),
    ]
    assert clock.now_ms - start == 50 + 100 + 200
    assert clock.step == 1  # backoff stays inside the step


def test_gives_up_after_max_attempts() -> None:
    clock = SimClock()
    seen, on_retry = _listener()
    last = TransientUnavailableError("still down")
    fn = Flaky([RateLimitError("1"), RateLimitError("2"), last, RateLimitError("never reached")])
    with pytest.raises(RetryExhaustedError) as info:
        RetryPolicy(max_attempts=3).call("query", fn, clock=clock, on_retry=on_retry)
    err = info.value
    assert fn.calls == 3
    assert err.op == "query"
    assert err.attempts == 3
    assert err.last is last
    assert err.__cause__ is last
    assert err.reason.value == "transient_unavailable"
    assert str(err) == "query: gave up after 3 attempts: TransientUnavailableError: still down"
    assert isinstance(err, BrokerError)
    # two retries, two backoffs: no backoff after the last attempt
    assert seen == [("query", "rate_limit", 1, 100), ("query", "rate_limit", 2, 200)]
    assert clock.now_ms - clock.epoch_ms == 300


def test_single_attempt_never_retries() -> None:
    clock = SimClock()
    seen, on_retry = _listener()
    fn = Flaky([RateLimitError("x")])
    with pytest.raises(RetryExhaustedError) as info:
        RetryPolicy(max_attempts=1).call("fills", fn, clock=clock, on_retry=on_retry)
    assert info.value.attempts == 1
    assert fn.calls == 1
    assert seen == []
    assert clock.now_ms == clock.epoch_ms


@pytest.mark.parametrize("error", [InvalidOrderError("bad"), OrderRejectedError("no"), UnknownOrderError("who")])
def test_permanent_errors_are_not_retried(error: BrokerError) -> None:
    clock = SimClock()
    seen, on_retry = _listener()
    fn = Flaky([error])
    with pytest.raises(type(error)) as info:
        RetryPolicy(max_attempts=5).call("place", fn, clock=clock, on_retry=on_retry)
    assert info.value is error
    assert fn.calls == 1
    assert seen == []
    assert clock.now_ms == clock.epoch_ms


def test_a_permanent_error_after_retries_ends_the_loop() -> None:
    clock = SimClock()
    fn = Flaky([RateLimitError("1"), InvalidOrderError("bad")])
    with pytest.raises(InvalidOrderError):
        RetryPolicy(max_attempts=5).call("place", fn, clock=clock)
    assert fn.calls == 2
    assert clock.now_ms - clock.epoch_ms == 100


def test_other_exceptions_pass_through() -> None:
    def boom() -> str:
        raise KeyError("not a broker error")

    with pytest.raises(KeyError):
        RetryPolicy().call("place", boom, clock=SimClock())


def test_zero_backoff_is_allowed() -> None:
    clock = SimClock()
    fn = Flaky([RateLimitError("1"), RateLimitError("2")])
    RetryPolicy(base_backoff_ms=0).call("place", fn, clock=clock)
    assert clock.now_ms == clock.epoch_ms


@pytest.mark.parametrize(
    "fields",
    [{"max_attempts": 0}, {"max_attempts": 21}, {"base_backoff_ms": -1}, {"multiplier": 0}, {"jitter": True}],
)
def test_policy_bounds(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("errors", "max_attempts"),
    [
        ([RateLimitError("1")], 3),
        ([RateLimitError("1"), BrokerTimeoutError("2")], 3),
        ([RateLimitError("1"), TransientUnavailableError("2"), RateLimitError("3")], 3),
        ([RateLimitError("1"), InvalidOrderError("bad")], 5),
        ([RateLimitError("only")], 1),
    ],
)
def test_retry_after_a_first_failure_is_call_from_its_second_attempt(
    errors: list[BrokerError], max_attempts: int
) -> None:
    # The orchestrator makes the first attempt itself and hands over on a retryable error:
    # what follows (attempts, backoffs, on_retry, the clock, the outcome) must be call's.
    def outcome(run: Callable[[Flaky, SimClock, Callable[[str, str, int, int], None]], str]) -> tuple[object, ...]:
        clock = SimClock()
        seen, on_retry = _listener()
        fn = Flaky(errors)
        try:
            result: object = run(fn, clock, on_retry)
        except BrokerError as exc:
            result = (type(exc).__name__, str(exc), getattr(exc, "attempts", None))
        return result, fn.calls, seen, clock.now_ms

    policy = RetryPolicy(max_attempts=max_attempts)

    def by_call(fn: Flaky, clock: SimClock, on_retry: Callable[[str, str, int, int], None]) -> str:
        return policy.call("place", fn, clock=clock, on_retry=on_retry)

    def by_hand_over(fn: Flaky, clock: SimClock, on_retry: Callable[[str, str, int, int], None]) -> str:
        try:
            return fn()
        except RateLimitError as first:
            return policy.retry_after("place", fn, first, clock=clock, on_retry=on_retry)

    assert outcome(by_hand_over) == outcome(by_call)


def test_retry_after_keeps_the_cause_of_an_exhausted_retry() -> None:
    last = BrokerTimeoutError("late")
    fn = Flaky([last])
    with pytest.raises(RetryExhaustedError) as info:
        RetryPolicy(max_attempts=2).retry_after("query", fn, RateLimitError("first"), clock=SimClock())
    assert (info.value.attempts, info.value.last, info.value.__cause__) == (2, last, last)
