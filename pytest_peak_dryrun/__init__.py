"""pytest-peak-dryrun: deterministic, offline dry runs of a trading stack as pytest tests.

The public API is exactly ``__all__`` (plus the documented ``pytest_peak_dryrun.contract``
subpackage and the plugin's fixtures, marker, options and ``pytest_dryrun_*`` hooks). Every
other module (``core``, ``harness``, ``console``, ``plugin``, ``hookspecs``, ``netguard``, ...)
is the implementation: private, and free to change between releases (README, Public API).

Names are imported lazily (PEP 562) so that ``import pytest_peak_dryrun`` stays cheap:
pydantic and the core load only when a name that needs them is first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Final

__all__ = [
    "LEGAL_TRANSITIONS",
    "AuditLog",
    "Broker",
    "BrokerAdapter",
    "BrokerContract",
    "BrokerContractError",
    "BrokerError",
    "BrokerTimeoutError",
    "CancelIntent",
    "DryRunConfig",
    "DryRunResult",
    "Event",
    "EventKind",
    "EventLog",
    "EventRecord",
    "FaultInjectedEvent",
    "FaultInjector",
    "FaultKind",
    "FaultRate",
    "FaultRule",
    "FaultSkippedEvent",
    "Fill",
    "FillDuplicateIgnoredEvent",
    "FillEvent",
    "FillOutOfOrderEvent",
    "HealthSnapshot",
    "InvalidOrderError",
    "LabelPolicyError",
    "MetricsCollector",
    "MetricsSnapshot",
    "MockBroker",
    "MockBrokerConfig",
    "NoLiveError",
    "Orchestrator",
    "Order",
    "OrderCancelEvent",
    "OrderPlaceEvent",
    "OrderQueryEvent",
    "OrderRejectedError",
    "OrderReplaceEvent",
    "OrderReplacedEvent",
    "OrderRequest",
    "OrderState",
    "OrderTransitionEvent",
    "OrderType",
    "PermanentBrokerError",
    "PlaceIntent",
    "PreflightCheckEvent",
    "RailTripEvent",
    "RateLimitError",
    "ReconcileMismatchEvent",
    "ReconcilePassEvent",
    "ReplaceIntent",
    "ReplacingBroker",
    "RetryEvent",
    "RetryPolicy",
    "RetryableBrokerError",
    "Scenario",
    "ScenarioError",
    "SessionState",
    "SessionStateEvent",
    "Side",
    "SimClock",
    "StatusSnapshot",
    "TransientUnavailableError",
    "UnknownMetricError",
    "UnknownOrderError",
    "Violation",
    "check_broker",
    "check_invariants",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
    "verify_audit_lines",
]

_WHERE: Final[dict[str, str]] = {
    "AuditLog": "core.audit",
    "Broker": "core.broker",
    "BrokerAdapter": "core.adapter",
    # the contract suite imports pytest: loaded only when the name is used
    "BrokerContract": "contract.broker_contract",
    "BrokerContractError": "core.errors",
    "BrokerError": "core.errors",
    "BrokerTimeoutError": "core.errors",
    "CancelIntent": "core.scenario",
    "ReplaceIntent": "core.scenario",
    "ReplacingBroker": "core.broker",
    "DryRunConfig": "core.orchestrator",
    "DryRunResult": "core.dryrun",
    "Event": "core.events",
    "EventKind": "core.events",
    "EventLog": "core.stream",
    "EventRecord": "core.events",
    "FaultInjectedEvent": "core.events",
    "FaultInjector": "core.faults",
    "FaultKind": "core.faults",
    "FaultRate": "core.faults",
    "FaultRule": "core.faults",
    "FaultSkippedEvent": "core.events",
    "Fill": "core.model",
    "FillDuplicateIgnoredEvent": "core.events",
    "FillEvent": "core.events",
    "FillOutOfOrderEvent": "core.events",
    "HealthSnapshot": "core.snapshots",
    "InvalidOrderError": "core.errors",
    "LEGAL_TRANSITIONS": "core.orders",
    "LabelPolicyError": "core.metrics",
    "MetricsCollector": "core.metrics",
    "MetricsSnapshot": "core.snapshots",
    "MockBroker": "core.broker",
    "MockBrokerConfig": "core.broker",
    "NoLiveError": "netguard",
    "Orchestrator": "core.orchestrator",
    "Order": "core.model",
    "OrderCancelEvent": "core.events",
    "OrderReplaceEvent": "core.events",
    "OrderReplacedEvent": "core.events",
    "OrderPlaceEvent": "core.events",
    "OrderQueryEvent": "core.events",
    "OrderRejectedError": "core.errors",
    "OrderRequest": "core.model",
    "OrderState": "core.orders",
    "OrderTransitionEvent": "core.events",
    "OrderType": "core.orders",
    "PermanentBrokerError": "core.errors",
    "PlaceIntent": "core.scenario",
    "PreflightCheckEvent": "core.events",
    "RailTripEvent": "core.events",
    "RateLimitError": "core.errors",
    "ReconcileMismatchEvent": "core.events",
    "ReconcilePassEvent": "core.events",
    "RetryEvent": "core.events",
    "RetryPolicy": "core.retry",
    "RetryableBrokerError": "core.errors",
    "Scenario": "core.scenario",
    "ScenarioError": "core.scenario",
    "SessionState": "core.orchestrator",
    "SessionStateEvent": "core.events",
    "Side": "core.orders",
    "SimClock": "core.clock",
    "StatusSnapshot": "core.snapshots",
    "TransientUnavailableError": "core.errors",
    "UnknownMetricError": "core.metrics",
    "UnknownOrderError": "core.errors",
    "Violation": "core.invariants",
    "check_broker": "core.boundary",
    "check_invariants": "core.invariants",
    "load_scenario": "core.scenario",
    "parse_scenario": "core.scenario",
    "run_scenario": "core.dryrun",
    "verify_audit_lines": "core.audit",
}

if TYPE_CHECKING:
    from .contract.broker_contract import BrokerContract
    from .core.adapter import BrokerAdapter
    from .core.audit import AuditLog, verify_audit_lines
    from .core.boundary import check_broker
    from .core.broker import Broker, MockBroker, MockBrokerConfig, ReplacingBroker
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
    from .core.events import (
        Event,
        EventKind,
        EventRecord,
        FaultInjectedEvent,
        FaultSkippedEvent,
        FillDuplicateIgnoredEvent,
        FillEvent,
        FillOutOfOrderEvent,
        OrderCancelEvent,
        OrderPlaceEvent,
        OrderQueryEvent,
        OrderReplacedEvent,
        OrderReplaceEvent,
        OrderTransitionEvent,
        PreflightCheckEvent,
        RailTripEvent,
        ReconcileMismatchEvent,
        ReconcilePassEvent,
        RetryEvent,
        SessionStateEvent,
    )
    from .core.faults import FaultInjector, FaultKind, FaultRate, FaultRule
    from .core.invariants import Violation, check_invariants
    from .core.metrics import LabelPolicyError, MetricsCollector, UnknownMetricError
    from .core.model import Fill, Order, OrderRequest
    from .core.orchestrator import DryRunConfig, Orchestrator, SessionState
    from .core.orders import LEGAL_TRANSITIONS, OrderState, OrderType, Side
    from .core.retry import RetryPolicy
    from .core.scenario import (
        CancelIntent,
        PlaceIntent,
        ReplaceIntent,
        Scenario,
        ScenarioError,
        load_scenario,
        parse_scenario,
    )
    from .core.snapshots import HealthSnapshot, MetricsSnapshot, StatusSnapshot
    from .core.stream import EventLog
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
