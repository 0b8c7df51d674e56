"""Where an E2E order's time goes: calls per order, events per order, top functions (cProfile).

Runs one dry run of N orders (``_scenarios.py``, shape ``e2e`` by default, or ``peers``)
under ``cProfile`` and prints:

- Python calls per order (functions written in Python) and C calls per order (builtins and
  methods of C types), the events per order, both exact counts that do not depend on the
  machine's load: the figure to compare before and after a change;
- the share of the profiled time per module (the package's modules, other libraries, C);
- the top functions by own time (``tottime``).

cProfile roughly doubles the run's time, more for code with many small calls, so its seconds
are not the run's (``throughput.py`` measures those); the shares and counts are what it is
for. With ``--pyinstrument`` (if installed; it is no dependency of the project) a sampling
profile of a second run follows, whose time is close to the unprofiled run's. With
``--opcodes M`` a run of M orders follows under ``sys.settrace`` with opcode events: the
bytecodes executed per order, in all and per function (exact, like the call counts, and
closer to the run's time than calls are: a call of a small function and one of a large one
count alike there). Tracing costs ~50x, so M is small (3,000 is ~20 s).

    python benchmarks/profile_e2e.py                  # 5,000 orders, top 25
    python benchmarks/profile_e2e.py 20000 --top 40 --shape peers --pyinstrument
    python benchmarks/profile_e2e.py 20000 --opcodes 3000   # also bytecodes per order
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import PurePath
from types import CodeType, FrameType
from typing import Any

from _scenarios import run_orders, scenario
from _timing import load_average

PACKAGE = "pytest_peak_dryrun"


def module_of(filename: str) -> str:
    """A profile entry's module, for the per-module table: ``core/events.py``, ``json``, ``C``."""
    if filename == "~":
        return "C (builtins, methods of C types)"
    parts = PurePath(filename).parts
    if PACKAGE in parts:
        return "/".join(parts[parts.index(PACKAGE) + 1 :])
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return f"{parts[parts.index(marker) + 1]} (library)"
    stem = PurePath(filename).stem
    parent = PurePath(filename).parent.name
    return f"{parent if stem == '__init__' else stem} (stdlib)"


def label_of(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    return f"{module_of(filename)}:{line}({name})"


def profiled(profile: cProfile.Profile) -> Callable[[Callable[[], Any]], tuple[float, Any]]:
    def measure(fn: Callable[[], Any]) -> tuple[float, Any]:
        start = time.process_time()
        profile.enable()
        try:
            out = fn()
        finally:
            profile.disable()
        return time.process_time() - start, out

    return measure


def opcodes_per_code(orders: int, shape: str) -> Counter[CodeType]:
    """Bytecodes executed per code object in one run of ``orders`` orders (``sys.settrace``
    with ``f_trace_opcodes``: one trace event per bytecode, exact whatever the load)."""
    counts: Counter[CodeType] = Counter()

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            counts[frame.f_code] += 1
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return local

    def traced(fn: Callable[[], Any]) -> tuple[float, Any]:
        sys.settrace(tracer)
        try:
            out = fn()
        finally:
            sys.settrace(None)
        return 0.0, out

    run_orders(scenario(shape, orders), orders, run_id="opcodes", measure=traced)
    return counts


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", nargs="?", type=int, default=5_000, help="orders in the run (default 5,000)")
    parser.add_argument("--top", type=int, default=25, help="functions to list by own time")
    parser.add_argument("--shape", choices=("e2e", "peers"), default="e2e")
    parser.add_argument("--pyinstrument", action="store_true", help="also a sampling profile, if installed")
    parser.add_argument("--opcodes", type=int, default=0, metavar="M", help="also bytecodes per order, over M orders")
    args = parser.parse_args(argv)
    n = args.orders
    if n < 1 or args.top < 0 or args.opcodes < 0:
        parser.error("orders must be >= 1, --top and --opcodes >= 0")

    profile = cProfile.Profile()
    sc = scenario(args.shape, n)
    seconds, figures = run_orders(sc, n, run_id="profile", measure=profiled(profile))
    load = load_average()
    stats = pstats.Stats(profile)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    py_calls = sum(nc for (filename, _, _), (_, nc, _, _, _) in raw.items() if filename != "~")
    c_calls = sum(nc for (filename, _, _), (_, nc, _, _, _) in raw.items() if filename == "~")
    total = sum(tt for (_, _, tt, _, _) in raw.values())

    print(f"{n:,} orders, shape {args.shape}, under cProfile: {seconds:.2f} s CPU (profiled), load {load:.2f}")
    print(f"  events per order      {figures['events'] / n:8.2f}")
    print(f"  Python calls per order {py_calls / n:7.1f}")
    print(f"  C calls per order     {c_calls / n:8.1f}")
    print(f"  all calls per order   {(py_calls + c_calls) / n:8.1f}")

    by_module: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (filename, _, _), (_, nc, tt, _, _) in raw.items():
        row = by_module[module_of(filename)]
        row[0] += tt
        row[1] += nc
    print("\nown time by module (share of the profiled time; calls per order):")
    for module, (own, calls) in sorted(by_module.items(), key=lambda item: -item[1][0]):
        if own / total < 0.005:
            continue
        print(f"  {own / total * 100:5.1f}%  {calls / n:7.1f}  {module}")

    print(f"\ntop {args.top} functions by own time (us per order under the profiler; calls per order):")
    ranked = sorted(raw.items(), key=lambda item: -item[1][2])[: args.top]
    for key, (_, nc, tt, ct, _) in ranked:
        print(
            f"  {tt / total * 100:5.1f}%  {tt / n * 1e6:7.2f} us  cum {ct / n * 1e6:7.2f} us  {nc / n:6.2f}"
            f"  {label_of(key)}"
        )

    if args.opcodes:
        m = args.opcodes
        codes = opcodes_per_code(m, args.shape)
        print(f"\nbytecodes per order ({m:,} orders under sys.settrace): {sum(codes.values()) / m:,.0f}")
        for code, count in codes.most_common(args.top):
            where = label_of((code.co_filename, code.co_firstlineno, code.co_name))
            print(f"  {count / m:7.1f}  {where}")

    if args.pyinstrument:
        try:
            from pyinstrument import Profiler
        except ImportError:
            print("\npyinstrument: not installed (pip install pyinstrument); skipped")
            return
        sampler = Profiler()

        def sample(fn: Callable[[], Any]) -> tuple[float, Any]:
            start = time.process_time()
            sampler.start()
            try:
                out = fn()
            finally:
                sampler.stop()
            return time.process_time() - start, out

        seconds, _ = run_orders(scenario(args.shape, n), n, run_id="profile", measure=sample)
        print(f"\npyinstrument: {seconds / n * 1e6:.1f} us/order (sampled), load {load_average():.2f}")
        print(sampler.output_text(unicode=False, color=False))


if __name__ == "__main__":
    main(sys.argv[1:])
