"""pytest-peak-dryrun: deterministic, offline dry runs of a trading stack as pytest tests.

The public API is exactly ``__all__``. Names are imported lazily (PEP 562) so that
``import pytest_peak_dryrun`` stays cheap: pydantic and the core load only when a name that
needs them is first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "Broker",
    "BrokerAdapter",
    "BrokerContract",
    "BrokerContractError",
    "BrokerError",
    "BrokerTimeoutError",
    "CancelIntent",
    "DryRunConfig",
    "DryRunResult",
    "FaultInjector",
    "FaultKind",
    "FaultRate",
    "FaultRule",
    "Fill",
    "InvalidOrderError",
    "MockBroker",
    "MockBrokerConfig",
    "NoLiveError",
    "Orchestrator",
    "Order",
    "OrderRejectedError",
    "OrderRequest",
    "OrderState",
    "OrderType",
    "PermanentBrokerError",
    "PlaceIntent",
    "RateLimitError",
    "RetryPolicy",
    "RetryableBrokerError",
    "Scenario",
    "ScenarioError",
    "SessionState",
    "Side",
    "SimClock",
    "TransientUnavailableError",
    "UnknownOrderError",
    "Violation",
    "check_broker",
    "check_invariants",
    "load_scenario",
    "run_scenario",
]

_WHERE = {
    "Broker": "core.broker",
    "BrokerAdapter": "core.adapter",
    # the contract suite imports pytest: loaded only when the name is used
    "BrokerContract": "contract.broker_contract",
    "BrokerContractError": "core.errors",
    "BrokerError": "core.errors",
    "BrokerTimeoutError": "core.errors",
    "CancelIntent": "core.scenario",
    "DryRunConfig": "core.orchestrator",
    "DryRunResult": "core.dryrun",
    "FaultInjector": "core.faults",
    "FaultKind": "core.faults",
    "FaultRate": "core.faults",
    "FaultRule": "core.faults",
    "Fill": "core.model",
    "InvalidOrderError": "core.errors",
    "MockBroker": "core.broker",
    "MockBrokerConfig": "core.broker",
    "NoLiveError": "netguard",
    "Orchestrator": "core.orchestrator",
    "Order": "core.model",
    "OrderRejectedError": "core.errors",
    "OrderRequest": "core.model",
    "OrderState": "core.orders",
    "OrderType": "core.orders",
    "PermanentBrokerError": "core.errors",
    "PlaceIntent": "core.scenario",
    "RateLimitError": "core.errors",
    "RetryPolicy": "core.retry",
    "RetryableBrokerError": "core.errors",
    "Scenario": "core.scenario",
    "ScenarioError": "core.scenario",
    "SessionState": "core.orchestrator",
    "Side": "core.orders",
    "SimClock": "core.clock",
    "TransientUnavailableError": "core.errors",
    "UnknownOrderError": "core.errors",
    "Violation": "core.invariants",
    "check_broker": "core.boundary",
    "check_invariants": "core.invariants",
    "load_scenario": "core.scenario",
    "run_scenario": "core.dryrun",
}

if TYPE_CHECKING:
    from .contract.broker_contract import BrokerContract
    from .core.adapter import BrokerAdapter
    from .core.boundary import check_broker
    from .core.broker import Broker, MockBroker, MockBrokerConfig
    from .core.clock import SimClock
    from .core.dryrun import DryRunResult, run_scenario
    from .core.errors import (
        BrokerContractError,
        BrokerError,
        BrokerTimeoutError,
        InvalidOrderError,
        OrderRejectedError,
        PermanentBrokerError,
        RateLimitError,
        RetryableBrokerError,
        TransientUnavailableError,
        UnknownOrderError,
    )
    from .core.faults import FaultInjector, FaultKind, FaultRate, FaultRule
    from .core.invariants import Violation, check_invariants
    from .core.model import Fill, Order, OrderRequest
    from .core.orchestrator import DryRunConfig, Orchestrator, SessionState
    from .core.orders import OrderState, OrderType, Side
    from .core.retry import RetryPolicy
    from .core.scenario import CancelIntent, PlaceIntent, Scenario, ScenarioError, load_scenario
    from .netguard import NoLiveError


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_peak_dryrun' has no attribute {name!r}")
    # Not cached in globals(): pytester's in-process runs unload the modules first imported
    # inside them, and a cached name would then keep a class of the unloaded copy (an Order
    # that is no longer the Order the boundary checks compare with). import_module is a
    # sys.modules lookup once the module is loaded.
    return getattr(import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
