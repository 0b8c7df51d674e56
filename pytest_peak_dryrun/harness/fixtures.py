"""The machinery behind the plugin's fixtures, imported only when a fixture is used.

Keeps ``plugin.py`` a thin wiring module (it imports pytest and the standard library only)
and puts the heavy imports (pydantic via the core) behind the first use of a dry-run
fixture, so suites that never use one pay nothing.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import pytest

from ..core.broker import Broker, MockBroker
from ..core.clock import SimClock
from ..core.dryrun import DryRunResult, run_scenario
from ..core.errors import BrokerContractError
from ..core.events import EventRecord
from ..core.input_bounds import INT_MAX, INT_MIN, describe_int
from ..core.orchestrator import DryRunConfig
from ..core.redact import Redactor
from ..core.scenario import MAX_STEPS, Scenario, ScenarioError, builtin_scenario, load_scenario
from ..core.stream import EventListener
from .secrets import redactor_for
from .session import RUNS_KEY, SESSION_KEY, DryRunSession

__all__ = [
    "BROKER_FROM_HOOK",
    "DEFAULT_SCENARIO",
    "DryRunFactory",
    "MarkerArgs",
    "execute_dryrun",
    "fixture_broker_clock",
    "make_default_broker",
    "marker_args",
    "resolve_scenario",
]

DEFAULT_SCENARIO: Final = "happy_path"
_MARKER_KWARGS: Final = ("scenario", "seed", "steps")
#: Brokers the plugin made itself (not a conftest override): a fresh one may be made per run.
BROKER_FROM_HOOK: Final = pytest.StashKey[Broker]()


@dataclass(frozen=True)
class MarkerArgs:
    scenario: str | os.PathLike[str] | Scenario = DEFAULT_SCENARIO
    seed: int | None = None
    steps: int | None = None


def _fail(nodeid: str, call: str, problem: str) -> None:
    __tracebackhide__ = True
    pytest.fail(f"{nodeid}: @pytest.mark.dryrun({call}): {problem}", pytrace=False)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """``repr`` of a marker argument, except for an integer too long to print (5000 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(10**30) < value < 10**30:
        return f"<integer {describe_int(value)}>"
    return repr(value)


def marker_args(item: pytest.Item) -> MarkerArgs:
    """Validate the ``dryrun`` marker of ``item`` (the closest one wins)."""
    __tracebackhide__ = True
    marker = item.get_closest_marker("dryrun")
    if marker is None:
        return MarkerArgs()
    kwargs = dict(marker.kwargs)
    if len(marker.args) > 1:
        _fail(item.nodeid, ", ".join(map(repr, marker.args)), "takes at most one positional argument, the scenario")
    if marker.args:
        if "scenario" in kwargs:
            _fail(item.nodeid, repr(marker.args[0]), "scenario given both positionally and as scenario=")
        kwargs["scenario"] = marker.args[0]
    unknown = sorted(set(kwargs) - set(_MARKER_KWARGS))
    if unknown:
        _fail(
            item.nodeid,
            f"{unknown[0]}={kwargs[unknown[0]]!r}",
            f"unknown argument {unknown[0]!r}; the marker takes {', '.join(_MARKER_KWARGS)}",
        )
    scenario = kwargs.get("scenario", DEFAULT_SCENARIO)
    if not isinstance(scenario, (str, os.PathLike, Scenario)):
        _fail(
            item.nodeid,
            f"scenario={scenario!r}",
            "scenario must be a built-in name, a path to a .toml/.json file or a Scenario, "
            f"not {type(scenario).__name__}",
        )
    seed = kwargs.get("seed")
    if seed is not None and not _is_int(seed):
        _fail(item.nodeid, f"seed={seed!r}", f"seed must be an integer, not {type(seed).__name__}")
    if seed is not None and not INT_MIN <= seed <= INT_MAX:
        _fail(item.nodeid, f"seed={_shown(seed)}", "seed must be an integer in -2**63 .. 2**63-1")
    steps = kwargs.get("steps")
    if steps is not None and (not _is_int(steps) or steps < 0):
        _fail(item.nodeid, f"steps={_shown(steps)}", "steps must be an integer >= 0")
    if steps is not None and steps > MAX_STEPS:
        _fail(item.nodeid, f"steps={_shown(steps)}", f"steps must be an integer in 0 .. {MAX_STEPS}")
    return MarkerArgs(scenario=scenario, seed=seed, steps=steps)


def resolve_scenario(
    ref: str | os.PathLike[str] | Scenario,
    *,
    base_dir: Path,
    seed: int | None,
    steps: int | None,
    session: DryRunSession,
) -> Scenario:
    """Turn a marker/factory reference into a Scenario; ``--dryrun-seed`` wins over ``seed``."""
    if isinstance(ref, Scenario):
        scenario = ref
    elif str(ref).endswith((".toml", ".json")):
        path = Path(ref)
        scenario = load_scenario(path if path.is_absolute() else base_dir / path)
    else:
        scenario = builtin_scenario(str(ref))  # names the candidates when unknown
    if session.seed is not None:
        seed = session.seed
    if steps is not None and steps > session.max_steps:
        raise ScenarioError(
            f"scenario {scenario.name!r}",
            [f"steps: {describe_int(steps)} is above the configured bound {session.max_steps} (ini dryrun_max_steps)"],
        )
    return scenario.with_overrides(seed=seed, steps=steps) if seed is not None or steps is not None else scenario


def make_default_broker(node: pytest.Item, scenario: Scenario, clock: SimClock) -> Broker:
    """The broker the ``pytest_dryrun_make_broker`` hook makes for ``node`` (conftest-scoped)."""
    made: Broker | None = node.ihook.pytest_dryrun_make_broker(config=node.config, scenario=scenario, clock=clock)
    if made is None:  # only if someone unregistered the plugin's own implementation
        return MockBroker(scenario.broker_config(), clock=clock)
    return made


def fixture_broker_clock(node: pytest.Item, broker: Broker, sim_clock: SimClock) -> SimClock:
    """The run's clock for the ``mock_broker`` fixture's broker.

    A broker the hook made was handed ``sim_clock``: that is the run's clock (an adapter
    that runs on another one then fails the preflight's ``broker_clock`` check, naming the
    fix). An override that runs on a SimClock of its own keeps it; any other override runs
    on ``sim_clock`` (and must follow it through ``on_step``).
    """
    own = getattr(broker, "clock", None)
    made_by_hook = node.stash.get(BROKER_FROM_HOOK, None) is broker
    return own if isinstance(own, SimClock) and not made_by_hook else sim_clock


def _listeners(config: pytest.Config, node: pytest.Item, run_id: str) -> list[EventListener]:
    # node.ihook: a conftest's hooks apply to the tests of its own directory only.
    hook = node.ihook.pytest_dryrun_event
    if not hook.get_hookimpls():
        return []  # nobody listens: keep the per-event hot path free of a hook call

    def forward(event: EventRecord) -> None:
        hook(config=config, run_id=run_id, event=event)

    return [forward]


def execute_dryrun(
    config: pytest.Config,
    node: pytest.Item,
    scenario: Scenario,
    *,
    broker: Broker | None,
    dryrun_config: DryRunConfig,
    clock: SimClock | None = None,
    redactor: Redactor | None = None,
) -> DryRunResult:
    """Run one dry run for a test item: hooks, run id, files under DIR, session record.

    ``clock`` is the run's clock when the caller knows it (the one handed to the hook);
    otherwise the run adopts the broker's ``.clock``. ``redactor`` defaults to the
    session's secrets registry (``harness.secrets``).
    """
    session = config.stash[SESSION_KEY]
    if redactor is None:
        redactor = redactor_for(config)
    run_id = session.next_run_id(node.nodeid)
    if broker is None:
        clock = SimClock()
        broker = make_default_broker(node, scenario, clock)

    def modify(report: dict[str, Any]) -> dict[str, Any]:
        node.ihook.pytest_dryrun_modify_report(config=config, run_id=run_id, report=report)
        return report

    try:
        result = run_scenario(
            scenario,
            run_id=run_id,
            broker=broker,
            clock=clock,
            config=dryrun_config,
            out_dir=session.out_dir,
            listeners=_listeners(config, node, run_id),
            report_hook=modify,
            redactor=redactor,
        )
    except BrokerContractError as exc:
        contract_error: BrokerContractError | None = exc
    else:
        contract_error = None
    if contract_error is not None:
        # The adapter's bug, named in one line (outside the except block, so no chained
        # traceback through our loop hides it).
        pytest.fail(f"{node.nodeid}: {contract_error}", pytrace=False)
    summary = session.record(node.nodeid, result)
    node.stash.setdefault(RUNS_KEY, []).append(summary)
    return result


class DryRunFactory:
    """``run_dryrun(scenario=..., seed=..., steps=..., broker=...)``: one dry run per call.

    Without ``broker=`` the first call uses the ``mock_broker`` fixture's broker, so a
    conftest override is honoured. Later calls need a fresh broker: one made by the
    ``pytest_dryrun_make_broker`` hook when the fixture was not overridden, otherwise a
    deep copy of the overriding object taken before its first use.
    """

    def __init__(
        self,
        request: pytest.FixtureRequest,
        *,
        dryrun_config: DryRunConfig,
        scenario: Scenario,
        redactor: Redactor | None = None,
    ) -> None:
        self._request = request
        self._redactor = redactor
        self._config = dryrun_config
        self._default_scenario = scenario
        self._session = request.config.stash[SESSION_KEY]
        self._fixture_broker_used = False
        self._pristine: Any = None
        self.results: list[DryRunResult] = []

    def _broker_for(self, scenario: Scenario) -> tuple[Broker, SimClock | None]:
        """The broker of the next run and its clock (None: the run adopts the broker's)."""
        request = self._request
        fixture_broker: Broker = request.getfixturevalue("mock_broker")
        made_by_hook = request.node.stash.get(BROKER_FROM_HOOK, None) is fixture_broker
        if not self._fixture_broker_used:
            self._fixture_broker_used = True
            if made_by_hook and scenario != self._default_scenario:
                return self._fresh(scenario)
            if not made_by_hook:
                try:
                    self._pristine = copy.deepcopy(fixture_broker)
                except Exception as exc:
                    self._pristine = exc
            sim_clock: SimClock = request.getfixturevalue("sim_clock")
            return fixture_broker, fixture_broker_clock(request.node, fixture_broker, sim_clock)
        if made_by_hook:
            return self._fresh(scenario)
        if isinstance(self._pristine, Exception):
            raise TypeError(
                f"run_dryrun: the overridden mock_broker cannot be copied for a second run "
                f"({type(self._pristine).__name__}: {self._pristine}); pass broker=... to each call"
            )
        return cast("Broker", copy.deepcopy(self._pristine)), None

    def _fresh(self, scenario: Scenario) -> tuple[Broker, SimClock]:
        clock = SimClock()
        return make_default_broker(self._request.node, scenario, clock), clock

    def __call__(
        self,
        scenario: str | os.PathLike[str] | Scenario | None = None,
        *,
        seed: int | None = None,
        steps: int | None = None,
        broker: Broker | None = None,
    ) -> DryRunResult:
        __tracebackhide__ = True
        request = self._request
        node = request.node
        if steps is not None and (not _is_int(steps) or steps < 0):
            shown = describe_int(steps) if _is_int(steps) else repr(steps)
            raise ValueError(f"run_dryrun: steps must be an integer >= 0, got {shown}")
        if seed is not None and not _is_int(seed):
            raise TypeError(f"run_dryrun: seed must be an integer, got {type(seed).__name__}")
        if seed is not None and not INT_MIN <= seed <= INT_MAX:
            raise ValueError(
                f"run_dryrun: seed must be an integer in -2**63 .. 2**63-1, got the integer {describe_int(seed)}"
            )
        problem: ScenarioError | None = None
        resolved = self._default_scenario
        if scenario is not None or seed is not None or steps is not None:
            try:
                resolved = resolve_scenario(
                    self._default_scenario if scenario is None else scenario,
                    base_dir=Path(node.path).parent,
                    seed=seed,
                    steps=steps,
                    session=self._session,
                )
            except ScenarioError as exc:
                problem = exc
        if problem is not None:  # raised here, outside the except: the user's line, not our frames
            raise ScenarioError(problem.source, problem.problems)
        clock: SimClock | None = None
        if broker is None:
            broker, clock = self._broker_for(resolved)
        result = execute_dryrun(
            request.config,
            node,
            resolved,
            broker=broker,
            dryrun_config=self._config,
            clock=clock,
            redactor=self._redactor,
        )
        self.results.append(result)
        return result
