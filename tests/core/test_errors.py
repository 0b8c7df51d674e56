"""The broker error hierarchy: retryable versus permanent."""

from __future__ import annotations

import pytest

from pytest_peak_dryrun.core.errors import (
    BrokerError,
    BrokerTimeoutError,
    InvalidOrderError,
    OrderRejectedError,
    PermanentBrokerError,
    RateLimitError,
    RetryableBrokerError,
    RetryReason,
    TransientUnavailableError,
    UnknownOrderError,
)


@pytest.mark.parametrize(
    ("cls", "reason"),
    [
        (RateLimitError, RetryReason.RATE_LIMIT),
        (BrokerTimeoutError, RetryReason.TIMEOUT),
        (TransientUnavailableError, RetryReason.TRANSIENT),
    ],
)
def test_retryable_errors(cls: type[RetryableBrokerError], reason: RetryReason) -> None:
    assert issubclass(cls, RetryableBrokerError)
    assert issubclass(cls, BrokerError)
    assert not issubclass(cls, PermanentBrokerError)
    assert cls("x").reason is reason


@pytest.mark.parametrize("cls", [InvalidOrderError, OrderRejectedError, UnknownOrderError])
def test_permanent_errors(cls: type[PermanentBrokerError]) -> None:
    assert issubclass(cls, PermanentBrokerError)
    assert issubclass(cls, BrokerError)
    assert not issubclass(cls, RetryableBrokerError)


def test_permanent_reasons() -> None:
    assert InvalidOrderError("x").reason == "invalid"
    assert UnknownOrderError("x").reason == "unknown_order"
    assert OrderRejectedError("x").reason == "rejected"
    err = OrderRejectedError("cancel MB-1: too late", reason="too_late")
    assert err.reason == "too_late"
    assert str(err) == "cancel MB-1: too late"


def test_retry_reason_values_are_the_metric_label_values() -> None:
    assert [r.value for r in RetryReason] == ["rate_limit", "timeout", "transient_unavailable"]
