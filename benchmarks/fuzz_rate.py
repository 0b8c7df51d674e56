"""Generated scenarios per second: what a ``dryrun_fuzz`` budget costs, and where the time goes.

Three cases over the same seeded stream of scenarios from
``pytest_peak_dryrun.strategies.scenarios()`` (hypothesis, no database, ``@seed``), in
interleaved rounds, each timed with ``time.process_time``:

- ``draw``: hypothesis draws the scenarios, nothing else;
- ``draw + run``: each is also run end to end on the MockBroker (preflight, steps, stop);
- ``draw + run + oracle``: and checked by ``check_invariants``, as ``dryrun_fuzz`` does.

Prints every round's figure with the load average beside it, then the medians as scenarios
per second and the oracle's share of a fuzz step (the median of the per-round ratios).
Absolute figures swing with the machine's load (benchmarks/README.md); the ratios are what
compare between runs.

    python benchmarks/fuzz_rate.py            # 300 scenarios per case and round, 5 rounds
    python benchmarks/fuzz_rate.py 1000 7     # scenarios per round, rounds
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from _timing import Case, cpu_seconds, interleave, load_average, load_range, median_ratio, median_us
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from pytest_peak_dryrun import check_invariants, run_scenario
from pytest_peak_dryrun.strategies import scenarios


def fuzz_loop(examples: int, body: Callable[[Any], object]) -> Callable[[], tuple[float, int, dict[str, Any]]]:
    """A case: ``examples`` scenarios drawn from seed 0, each handed to ``body``."""

    def run() -> tuple[float, int, dict[str, Any]]:
        count = 0

        @hypothesis_seed(0)
        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(scenarios())
        def loop(scenario: Any) -> None:
            nonlocal count
            count += 1
            body(scenario)

        seconds, _ = cpu_seconds(loop)
        return seconds, count, {}

    return run


def run_only(scenario: Any) -> object:
    return run_scenario(scenario, audit_key=None)


def run_and_check(scenario: Any) -> object:
    return check_invariants(run_scenario(scenario, audit_key=None))


def main(examples: int = 300, rounds: int = 5) -> None:
    print(f"generated scenarios: {examples} per case and round, {rounds} rounds (load {load_average():.2f})")
    cases = [
        Case("draw", fuzz_loop(examples, lambda scenario: None)),
        Case("draw + run", fuzz_loop(examples, run_only)),
        Case("draw + run + oracle", fuzz_loop(examples, run_and_check)),
    ]
    samples = interleave(cases, rounds, unit="scenario")
    print()
    for case in cases:
        us = median_us(samples[case.name])
        print(f"{case.name:<20} {1e6 / us:10,.0f} scenarios/s   ({us / 1000:7.3f} ms CPU each)")
    oracle, _ = median_ratio(samples["draw + run + oracle"], samples["draw + run"])
    drawing, _ = median_ratio(samples["draw"], samples["draw + run + oracle"])
    print(
        f"\noracle: a fuzz step costs {oracle:.2f}x the step without it; drawing is {drawing:.1%} of a fuzz step "
        f"({load_range(*samples.values())})"
    )
    print(
        f"a dryrun_fuzz call of 500 scenarios: about {500 * median_us(samples['draw + run + oracle']) / 1e6:.1f} s CPU"
    )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
