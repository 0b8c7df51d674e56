"""The ``dryrun_fuzz`` fixture: generated scenarios through a suite's broker, the oracle after each.

Deterministic simulation testing as a pytest fixture. Calling the fixture's value runs
``examples`` scenarios drawn by a hypothesis strategy (default
:func:`pytest_peak_dryrun.strategies.scenarios`) through the test's broker, each a full dry
run (preflight, steps, stop) checked by the invariant oracle (:mod:`.invariants`). On the
first violation (or an exception out of the run) hypothesis shrinks the scenario to a small
one that still fails; that scenario is written as a ``dryrun_*.toml`` reproducer and the test
fails with one message naming the file and the broken invariants.

Determinism: hypothesis draws from ``@seed(seed)`` with no example database, so the same
seed explores the same schedules in every process, serial or on any pytest-xdist worker
(``-n`` spreads tests, never the examples of one test). The reproducer's name and bytes
depend on the test's node id and the scenario only.

Fuzz runs are not recorded in the session (no snapshot files, no terminal table row, no
``pytest_dryrun_event`` / ``pytest_dryrun_modify_report`` calls): a fuzz test makes hundreds
of runs. The reproducer, collected as a scenario file, is an ordinary recorded run.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn, cast

import pytest

from ..core.boundary import replace_problem
from ..core.broker import Broker
from ..core.clock import SimClock
from ..core.dryrun import DryRunResult, make_run_id, run_scenario
from ..core.invariants import Invariant, Violation, check_invariants
from ..core.orchestrator import DryRunConfig, SessionState
from ..core.redact import Redactor
from ..core.scenario import Scenario, parse_scenario
from ..core.scenario_writer import scenario_text, write_scenario_file
from .fixtures import BROKER_FROM_HOOK, make_default_broker
from .invariants import check_item, describe_violations, skipped_invariants

__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_SEED",
    "DIR_INI",
    "BrokerFactory",
    "DryRunFuzz",
    "FuzzReport",
    "reproducer_dir",
]

#: Scenarios per fuzz call unless the call or ``--dryrun-fuzz-examples`` says otherwise. A
#: generated scenario is a whole session (~8 ms with the default strategy, so ~4 s a call);
#: the example's fill-versus-pending-cancel bug hides in about one schedule of 150 and was
#: found within 500 for 17 of 20 seeds (within hypothesis's usual 100 for 9 of 20).
DEFAULT_EXAMPLES: Final = 500
DEFAULT_SEED: Final = 0
#: ini: where reproducers go (relative to the rootdir); default: beside the test file.
DIR_INI: Final = "dryrun_fuzz_dir"
#: ``(scenario, clock) -> broker``: the signature of the ``pytest_dryrun_make_broker`` hook.
BrokerFactory = Callable[[Scenario, SimClock], Broker]
_SLUG: Final = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class FuzzReport:
    """What a fuzz call that found nothing ran: ``examples`` scenarios from ``seed``."""

    examples: int
    seed: int


class _Broken(Exception):
    """A generated scenario broke invariants. One subclass per set of broken invariants
    (:meth:`_Search._broken`): hypothesis tells failures apart by exception type, and shrinks
    each on its own instead of slipping from one bug to a simpler, different one."""


class _SetupProblem(BaseException):
    """A generated scenario did not get past the preflight: not a finding, so not shrunk.

    A ``BaseException``: hypothesis lets it through at once instead of shrinking it.
    """

    def __init__(self, preflight: str) -> None:
        super().__init__(preflight)
        self.preflight = preflight


@dataclass
class _Failure:
    scenario: Scenario
    violations: list[Violation]
    error: BaseException | None = None
    #: the generated scenario (1-based, in generation order) in which this failure was found
    found_at: int = 0

    @property
    def signature(self) -> str:
        if self.error is not None:
            return f"error:{type(self.error).__module__}.{type(self.error).__qualname__}"
        return "invariants:" + ",".join(sorted({v.invariant for v in self.violations}))


class _Search:
    """One hypothesis search: ``check`` each generated scenario, keep each distinct shrunk failure."""

    def __init__(self, check: Callable[[Scenario], list[Violation]]) -> None:
        self._check = check
        self.calls = 0
        #: signature -> the failure; hypothesis replays each minimal failing example last, so
        #: the last one recorded for a signature is the shrunk one
        self.failures: dict[str, _Failure] = {}
        self.flaky = False
        self._types: dict[str, type[_Broken]] = {}

    def _record(self, failure: _Failure) -> None:
        known = self.failures.get(failure.signature)
        failure.found_at = known.found_at if known is not None else self.calls
        self.failures[failure.signature] = failure

    def _broken(self, signature: str) -> type[_Broken]:
        if signature not in self._types:
            self._types[signature] = type(f"Broken[{signature}]", (_Broken,), {})
        return self._types[signature]

    def one(self, scenario: Scenario) -> None:
        self.calls += 1
        if not isinstance(scenario, Scenario):
            raise TypeError(f"the strategy drew {type(scenario).__name__}, not a Scenario")
        try:
            violations = self._check(scenario)
        except _SetupProblem:
            raise
        except Exception as exc:
            self._record(_Failure(scenario, [], error=exc))
            raise
        if violations:
            failure = _Failure(scenario, violations)
            self._record(failure)
            raise self._broken(failure.signature)

    def run(self, strategy: Any, *, examples: int, seed: int) -> list[_Failure]:
        """The distinct failures hypothesis shrank, in the order they were found (empty: all passed)."""
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as hypothesis_seed
        from hypothesis.errors import Flaky

        test: Callable[[], None] = hypothesis_seed(seed)(
            settings(
                max_examples=examples,
                database=None,  # nothing read or written between runs: the seed alone decides
                deadline=None,
                derandomize=False,
                print_blob=False,
                report_multiple_bugs=True,  # each bug shrunk on its own, none slips into another
                phases=(Phase.generate, Phase.shrink),
                suppress_health_check=list(HealthCheck),
                verbosity=Verbosity.quiet,
            )(cast("Callable[[Callable[[Scenario], None]], Callable[[], None]]", given(strategy))(self.one))
        )
        try:
            test()
        except Flaky:
            self.flaky = True
        except Exception:
            if not self.failures:
                raise  # not from a run (a strategy that cannot draw): hypothesis says what
        return sorted(self.failures.values(), key=lambda failure: failure.found_at)


#: The scenario a broker is made for to ask whether it can replace (made, never run).
_PROBE: Final = {"name": "dryrun_fuzz_probe", "steps": 1}


def _without_replaces(scenario: Scenario) -> Scenario:
    """``scenario`` without its ``[[replaces]]``: for a broker that has no ``replace_order``."""
    return scenario.model_copy(update={"replaces": ()}) if scenario.replaces else scenario


def _first(*values: int | None) -> int:
    return next(value for value in values if value is not None)


def reproducer_dir(config: pytest.Config, test_path: Path) -> Path:
    """``--dryrun-fuzz-dir`` (invocation dir), else ini ``dryrun_fuzz_dir`` (rootdir), else the test's dir."""
    option = config.getoption("dryrun_fuzz_dir", None)
    if option:
        path, base = Path(option), config.invocation_params.dir
    else:
        ini = config.getini(DIR_INI)
        if not ini:
            return test_path.parent
        path, base = Path(str(ini)), config.rootpath
    return path if path.is_absolute() else base / path


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def describe_scenario(scenario: Scenario) -> str:
    """``"2 steps, 1 order, 1 cancel, no fault, fill model partial (3 slices), cancel latency 1"``."""
    broker = scenario.broker
    parts = [
        _plural(scenario.steps, "step"),
        _plural(len(scenario.orders), "order"),
        _plural(len(scenario.cancels), "cancel"),
        _plural(len(scenario.faults), "scheduled fault") if scenario.faults else "no scheduled fault",
    ]
    if scenario.fault_rate is not None:
        parts.append(f"fault rate {scenario.fault_rate.rate:g}")
    model = f"fill model {broker.fill_model.value}"
    if broker.fill_model.value == "partial":
        model += f" ({_plural(broker.partial_slices, 'slice')})"
    parts.append(model)
    if broker.ack_latency_steps:
        parts.append(f"ack latency {broker.ack_latency_steps}")
    if broker.cancel_latency_steps:
        parts.append(f"cancel latency {broker.cancel_latency_steps}")
    return ", ".join(parts)


class DryRunFuzz:
    """The ``dryrun_fuzz`` fixture's value: call it to fuzz the test's broker (see ``__call__``)."""

    def __init__(self, request: pytest.FixtureRequest, *, dryrun_config: DryRunConfig, redactor: Redactor) -> None:
        self._request = request
        self._config = dryrun_config
        self._redactor = redactor

    # -- the broker of each generated scenario ---------------------------------------------

    def _broker_maker(self, broker: BrokerFactory | None) -> tuple[Callable[[Scenario], Broker], str]:
        """A fresh broker per scenario, and what it is (for the failure message)."""
        node = self._request.node
        if broker is not None:
            if not callable(broker):
                self._fail(f"broker={broker!r}: expected a factory (scenario, clock) -> broker")

            def from_factory(scenario: Scenario) -> Broker:
                return broker(scenario, SimClock())

            return from_factory, "the broker= factory"
        fixture_broker: Broker = self._request.getfixturevalue("mock_broker")
        if node.stash.get(BROKER_FROM_HOOK, None) is fixture_broker:

            def from_hook(scenario: Scenario) -> Broker:
                return make_default_broker(node, scenario, SimClock())

            return from_hook, "the pytest_dryrun_make_broker hook"
        try:
            pristine = copy.deepcopy(fixture_broker)
        except Exception as exc:
            self._fail(
                f"the overridden mock_broker cannot be copied for each generated scenario "
                f"({type(exc).__name__}: {exc}); pass broker=lambda scenario, clock: ... instead"
            )

        def from_override(scenario: Scenario) -> Broker:
            return copy.deepcopy(pristine)

        return from_override, "a copy of the overridden mock_broker fixture"

    def _fail(self, problem: str) -> NoReturn:
        __tracebackhide__ = True
        pytest.fail(f"{self._request.node.nodeid}: dryrun_fuzz: {problem}", pytrace=False)

    # -- one generated scenario --------------------------------------------------------------

    def _run(self, scenario: Scenario, make: Callable[[Scenario], Broker]) -> DryRunResult:
        broker = make(scenario)
        clock = getattr(broker, "clock", None)
        return run_scenario(
            scenario,
            run_id=make_run_id(self._request.node.nodeid),
            broker=broker,
            clock=clock if isinstance(clock, SimClock) else None,
            config=self._config,
            redactor=self._redactor,
            audit_key=None,
        )

    def _check(
        self,
        scenario: Scenario,
        make: Callable[[Scenario], Broker],
        extra: tuple[Invariant, ...],
        skip: tuple[str, ...],
    ) -> list[Violation]:
        """Run one generated scenario and check it (an exception out of the run propagates)."""
        result = self._run(scenario, make)
        if result.state is SessionState.PREFLIGHT_FAILED:
            raise _SetupProblem("; ".join(result.orchestrator.preflight_failures))
        return check_item(self._request.node, result, extra=extra, skip=skip)

    # -- the call -------------------------------------------------------------------------------

    def __call__(
        self,
        strategy: Any = None,
        *,
        examples: int | None = None,
        seed: int | None = None,
        broker: BrokerFactory | None = None,
        invariants: Iterable[Invariant] = (),
        skip: Iterable[str] = (),
    ) -> FuzzReport:
        """Run generated scenarios through the test's broker; fail the test on a broken invariant.

        ``strategy``: a hypothesis strategy of Scenarios (default
        ``pytest_peak_dryrun.strategies.scenarios()``; for a broker without ``replace_order``,
        ``scenarios(max_replaces=0)``, and a strategy given is then run with each scenario's
        ``[[replaces]]`` left out). ``examples`` (default 500) and
        ``seed`` (default 0) are overridden by ``--dryrun-fuzz-examples`` and
        ``--dryrun-fuzz-seed``. ``broker``: a factory ``(scenario, clock) -> broker``; by
        default the ``pytest_dryrun_make_broker`` hook makes one per scenario, or, when
        ``mock_broker`` is overridden, a deep copy of the override is used per scenario.
        ``invariants`` and ``skip`` are passed on to the oracle (``extra=``, ``skip=``).
        Returns a :class:`FuzzReport` when nothing broke.
        """
        __tracebackhide__ = True
        try:
            from hypothesis.strategies import SearchStrategy

            from ..strategies import scenarios
        except ImportError:
            self._fail("needs hypothesis: pip install 'pytest-peak-dryrun[fuzz]'")
        if examples is not None and (isinstance(examples, bool) or not isinstance(examples, int) or examples < 1):
            self._fail(f"examples={examples!r}: expected an integer >= 1")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            self._fail(f"seed={seed!r}: expected an integer")
        config = self._request.config
        # the command line wins: a nightly job runs every fuzz test longer, or from elsewhere
        examples = _first(config.getoption("dryrun_fuzz_examples", None), examples, DEFAULT_EXAMPLES)
        seed = _first(config.getoption("dryrun_fuzz_seed", None), seed, DEFAULT_SEED)
        if strategy is not None and not isinstance(strategy, SearchStrategy):
            self._fail(
                f"strategy {strategy!r}: expected a hypothesis strategy of Scenarios, such as "
                "pytest_peak_dryrun.strategies.scenarios(max_orders=2)"
            )
        make, source = self._broker_maker(broker)
        # Amend/replace is an optional capability: a broker without replace_order is fuzzed
        # without [[replaces]] (the default strategy then draws exactly what it drew before
        # replaces existed), rather than failing the preflight on every scenario that has one.
        can_replace = replace_problem(make(parse_scenario(dict(_PROBE), source="dryrun_fuzz"))) is None
        if strategy is None:
            strategy = scenarios() if can_replace else scenarios(max_replaces=0)
        elif not can_replace:
            strategy = strategy.map(_without_replaces)
        extra, skipped = tuple(invariants), tuple(skip)
        search = _Search(lambda scenario: self._check(scenario, make, extra, skipped))
        preflight: str | None = None
        failures: list[_Failure] = []
        try:
            failures = search.run(strategy, examples=examples, seed=seed)
        except _SetupProblem as exc:
            preflight = exc.preflight
        if preflight is not None:
            self._fail(
                f"a generated scenario (seed {seed}) failed the preflight, which fuzzing needs a broker and "
                f"dryrun_config to pass: {self._redactor.redact_text(preflight)}"
            )
        if search.flaky:
            self._fail(
                f"a generated scenario (seed {seed}) failed once and passed when run again: the broker keeps "
                f"state from one run to the next ({source} must give a fresh broker per scenario)"
            )
        if not failures:
            return FuzzReport(examples=search.calls, seed=seed)
        skip_all = (*skipped_invariants(self._request.config), *skipped)
        return self._report(failures, seed=seed, examples=examples, source=source, skip=skip_all, make=make)

    # -- the reproducer and the message ----------------------------------------------------------

    def _unchecked_when_collected(self, failure: _Failure, make: Callable[[Scenario], Broker]) -> list[str]:
        """The broken invariants that the collected reproducer will not check: this call's own
        ``invariants=``. A scenario file checks the built-ins and the hook's (minus the ini's
        skips), so for those alone it would pass the oracle and ``--snapshot-update`` would
        record the broken run: the "fails until its bug is fixed" promise does not hold."""
        if failure.error is not None:
            return []
        try:
            result = self._run(failure.scenario, make)
        except Exception:
            return []  # the file will fail on this exception when collected
        found = {v.invariant for v in check_item(self._request.node, result)}
        return sorted({v.invariant for v in failure.violations} - found)

    def _reproducer(
        self, failure: _Failure, *, seed: int, make: Callable[[Scenario], Broker]
    ) -> tuple[list[str], str, Path]:
        """Write ``failure``'s reproducer: its lines for the message, what broke, and the file."""
        node = self._request.node
        redactor = self._redactor
        if failure.error is not None:
            what = "the run raised an exception"
            lines = [f"  - {redactor.redact_text(f'{type(failure.error).__name__}: {failure.error}')}"]
        else:
            what = f"{_plural(len(failure.violations), 'invariant')} broke"
            lines = describe_violations(failure.violations, redactor)
        _, plain = scenario_text(failure.scenario)
        digest = hashlib.sha256(plain.encode("utf-8")).hexdigest()[:10]
        slug = _SLUG.sub("_", node.name).strip("_")[:40] or "test"
        stem = f"dryrun_fuzz_{slug}_{digest}"
        scenario = failure.scenario.with_overrides(name=stem.removeprefix("dryrun_"))
        failure.scenario = scenario
        unchecked = self._unchecked_when_collected(failure, make)
        comment = [
            f"Reproducer written by dryrun_fuzz (pytest-peak-dryrun) for {node.nodeid} (seed {seed}).",
            f"Hypothesis shrank the generated scenario below; in it {what}:",
            *(line.replace("  - ", "  ", 1) for line in lines),
        ]
        if unchecked:
            names = ", ".join(unchecked)
            one = len(unchecked) == 1
            verb, it = ("is this test's own invariant", "it") if one else ("are this test's own invariants", "them")
            comment += [
                f"{names} {verb} (invariants=): the collected file does not check {it},",
                "so it passes once its golden file is recorded. Implement it as a",
                "pytest_dryrun_invariants hook in this directory to keep this file failing until the fix.",
            ]
            lines = [
                *lines,
                f"  ({names}: passed to this call only (invariants=): a collected reproducer does not check {it}, "
                f"so it would pass and --snapshot-update would record this run; implement {it} as a "
                "pytest_dryrun_invariants hook to keep the file failing until the fix)",
            ]
        else:
            comment += [
                "Collected as a test (a dryrun_*.toml file), it runs through the broker that the",
                "pytest_dryrun_make_broker hook makes in this directory and fails while that holds.",
            ]
        comment += [
            "Commit it; once the bug is fixed, record its golden file with",
            "pytest --snapshot-update <this file>.",
        ]
        path = write_scenario_file(scenario, reproducer_dir(node.config, Path(node.path)), stem, comment=comment)
        return lines, what, path

    def _also_on_the_mock(self, failure: _Failure, skip: tuple[str, ...]) -> bool:
        """Does the plain MockBroker break the same invariants in this scenario? Then the bug is
        in the plugin's own stack (orchestrator, reconciler), not in the broker under test."""
        if failure.error is not None:
            return False
        try:
            result = run_scenario(failure.scenario, config=self._config, audit_key=None)
        except Exception:
            return False
        names = {v.invariant for v in failure.violations}
        found = {v.invariant for v in check_invariants(result, skip=skip)}
        return names <= found

    def _report(
        self,
        failures: list[_Failure],
        *,
        seed: int,
        examples: int,
        source: str,
        skip: tuple[str, ...],
        make: Callable[[Scenario], Broker],
    ) -> NoReturn:
        __tracebackhide__ = True
        node = self._request.node
        base = node.config.invocation_params.dir
        blocks: list[str] = []
        shown: list[str] = []
        for number, failure in enumerate(failures, start=1):
            lines, what, path = self._reproducer(failure, seed=seed, make=make)
            if self._also_on_the_mock(failure, skip):
                lines.append(
                    "  (the plain MockBroker breaks it too: a gap in pytest-peak-dryrun's own stack, not in the "
                    "broker under test: please report it with this reproducer)"
                )
            shown.append(_shown(path, base))
            prefix = f"[{number}] " if len(failures) > 1 else ""
            blocks.extend(
                [
                    f"{prefix}in generated scenario {failure.found_at} of {examples} (seed {seed}) {what}; "
                    f"shrunk to {describe_scenario(failure.scenario)}:",
                    *lines,
                    f"reproducer: {shown[-1]}",
                ]
            )
        files = "pytest --snapshot-update " + " ".join(shown)
        note = (
            ""
            if source == "the pytest_dryrun_make_broker hook"
            else f"\n(this test fuzzed {source}; collected, a reproducer runs through the hook's broker instead)"
        )
        head = f"{node.nodeid}: dryrun_fuzz:"
        if len(failures) == 1:
            blocks[0] = f"{head} {blocks[0]}"
        else:
            blocks.insert(0, f"{head} {len(failures)} distinct failures:")
        message = "\n".join(
            [
                *blocks,
                f"Collected as a test, a reproducer fails until its bug is fixed; commit it, and after the fix "
                f"record its golden file: {files}{note}",
            ]
        )
        pytest.fail(message, pytrace=False)
