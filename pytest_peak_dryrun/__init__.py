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
    "BrokerError",
    "DryRunConfig",
    "DryRunResult",
    "FaultInjector",
    "FaultKind",
    "FaultRate",
    "FaultRule",
    "MockBroker",
    "MockBrokerConfig",
    "NoLiveError",
    "Orchestrator",
    "OrderRequest",
    "OrderState",
    "RetryPolicy",
    "RetryableBrokerError",
    "Scenario",
    "ScenarioError",
    "SessionState",
    "SimClock",
    "load_scenario",
    "run_scenario",
]

_WHERE = {
    "Broker": "core.broker",
    "BrokerError": "core.errors",
    "DryRunConfig": "core.orchestrator",
    "DryRunResult": "core.dryrun",
    "FaultInjector": "core.faults",
    "FaultKind": "core.faults",
    "FaultRate": "core.faults",
    "FaultRule": "core.faults",
    "MockBroker": "core.broker",
    "MockBrokerConfig": "core.broker",
    "NoLiveError": "netguard",
    "Orchestrator": "core.orchestrator",
    "OrderRequest": "core.model",
    "OrderState": "core.orders",
    "RetryPolicy": "core.retry",
    "RetryableBrokerError": "core.errors",
    "Scenario": "core.scenario",
    "ScenarioError": "core.scenario",
    "SessionState": "core.orchestrator",
    "SimClock": "core.clock",
    "load_scenario": "core.scenario",
    "run_scenario": "core.dryrun",
}

if TYPE_CHECKING:
    from .core.broker import Broker, MockBroker, MockBrokerConfig
    from .core.clock import SimClock
    from .core.dryrun import DryRunResult, run_scenario
    from .core.errors import BrokerError, RetryableBrokerError
    from .core.faults import FaultInjector, FaultKind, FaultRate, FaultRule
    from .core.model import OrderRequest
    from .core.orchestrator import DryRunConfig, Orchestrator, SessionState
    from .core.orders import OrderState
    from .core.retry import RetryPolicy
    from .core.scenario import Scenario, ScenarioError, load_scenario
    from .netguard import NoLiveError


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_peak_dryrun' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
