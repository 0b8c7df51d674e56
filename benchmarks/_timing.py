"""How the benchmarks measure: CPU time, interleaved rounds, medians, the load average.

On a shared machine absolute times swing 3-5x with the load of other jobs; only ratios
measured in the same process and round compare between runs (benchmarks/README.md). So every
script here runs its cases interleaved (A, B, A, B, ...), times each with
``time.process_time`` (CPU time of this process: user + system, all its threads, the garbage
collector included, time spent waiting for a core excluded), prints each figure with the
1-minute load average read right after it, and reports medians and the median of the
per-round ratios.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Sample", "cpu_seconds", "interleave", "load_average", "load_range", "median_ratio", "median_us"]


def load_average() -> float:
    """The machine's 1-minute load average (NaN where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def cpu_seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds of ``fn()`` and its result, after a full collection (so no run pays for
    the garbage of the one before)."""
    gc.collect()
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


@dataclass(frozen=True)
class Sample:
    """One timed run: CPU seconds for ``units`` units of work, and the load right after."""

    seconds: float
    units: int
    load: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def us(self) -> float:
        """Microseconds of CPU per unit (per order, per event)."""
        return self.seconds / self.units * 1e6


@dataclass(frozen=True)
class Case:
    """A named measurement. ``run`` times only what it states and returns
    ``(cpu seconds, units, extra figures)``."""

    name: str
    run: Callable[[], tuple[float, int, dict[str, Any]]]


def interleave(cases: Sequence[Case], rounds: int, *, unit: str = "order") -> dict[str, list[Sample]]:
    """Run ``cases`` in turn, ``rounds`` times (A, B, A, B, ...), printing each figure as it
    comes with the load average beside it."""
    width = max(len(case.name) for case in cases)
    samples: dict[str, list[Sample]] = {case.name: [] for case in cases}
    for r in range(1, rounds + 1):
        for case in cases:
            seconds, units, extra = case.run()
            sample = Sample(seconds, units, load_average(), extra)
            samples[case.name].append(sample)
            print(
                f"  round {r}  {case.name:<{width}}  {sample.us:10.3f} us/{unit}"
                f"  ({units:,} {unit}s, {seconds:.2f} s CPU)  load {sample.load:.2f}",
                flush=True,
            )
    return samples


def median_us(samples: Sequence[Sample]) -> float:
    return statistics.median(s.us for s in samples)


def median_ratio(numerator: Sequence[Sample], denominator: Sequence[Sample]) -> tuple[float, list[float]]:
    """The median of the per-round ratios ``numerator / denominator`` (per unit), and each
    round's ratio: a ratio is only taken between figures of the same round."""
    ratios = [a.us / b.us for a, b in zip(numerator, denominator, strict=True)]
    return statistics.median(ratios), ratios


def load_range(*groups: Sequence[Sample]) -> str:
    """``load 3.91-4.40``: the lowest and highest load average seen over the samples."""
    loads = [s.load for group in groups for s in group]
    low, high = min(loads), max(loads)
    return f"load {low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"load {low:.2f}-{high:.2f}"
