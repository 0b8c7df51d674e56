"""Typed errors of the broker contract.

The split that matters to a caller is *retryable* (the same request may succeed later:
rate limit, timeout, transient outage) versus *permanent* (retrying cannot help: invalid
request, rejected order, unknown order). :class:`~pytest_peak_dryrun.core.retry.RetryPolicy`
retries the first kind only.

:class:`BrokerContractError` is neither: it says the *adapter* broke the contract (returned
the wrong kind of value), which no retry and no rejection handling may hide.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "BrokerContractError",
    "BrokerError",
    "BrokerTimeoutError",
    "InvalidOrderError",
    "OrderRejectedError",
    "PermanentBrokerError",
    "RateLimitError",
    "RetryReason",
    "RetryableBrokerError",
    "TransientUnavailableError",
    "UnknownOrderError",
]


class RetryReason(str, Enum):
    """Why an operation was retried: the ``reason`` label of ``retry_attempts_total``."""

    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    TRANSIENT = "transient_unavailable"


class BrokerError(Exception):
    """Base class of every error a broker adapter raises."""


class RetryableBrokerError(BrokerError):
    """The request may succeed if sent again (with the same idempotency key)."""

    reason: RetryReason


class RateLimitError(RetryableBrokerError):
    reason = RetryReason.RATE_LIMIT


class BrokerTimeoutError(RetryableBrokerError):
    """No answer in time. The broker may or may not have acted on the request."""

    reason = RetryReason.TIMEOUT


class TransientUnavailableError(RetryableBrokerError):
    reason = RetryReason.TRANSIENT


class PermanentBrokerError(BrokerError):
    """Sending the same request again cannot succeed."""


class InvalidOrderError(PermanentBrokerError):
    """The request is malformed (for example a limit order without a limit price)."""

    reason = "invalid"


class OrderRejectedError(PermanentBrokerError):
    """The broker refused the order (for example an instrument it does not trade)."""

    def __init__(self, message: str, *, reason: str = "rejected") -> None:
        super().__init__(message)
        self.reason = reason


class UnknownOrderError(PermanentBrokerError):
    """The broker has no order with this id."""

    reason = "unknown_order"


class BrokerContractError(TypeError):
    """A broker returned a value the :class:`~pytest_peak_dryrun.Broker` protocol does not allow.

    Raised where the value crosses into the plugin (see ``core/boundary.py``), naming the
    adapter class, the method, what came back and what was expected. Deliberately *not* a
    :class:`BrokerError`: the retry policy and the orchestrator's error handling catch those,
    and a wrong return type is a bug in the adapter that must stop the run, not a rejected
    order or a retry.
    """
