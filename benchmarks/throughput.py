"""CPU per order of the full E2E, as a ratio to a pure-Python floor measured in the same rounds.

E2E (``_scenarios.py``, shape ``e2e``): each order is placed, acknowledged and filled in two
partial fills (PARTIAL, then FILLED), with the metrics collector, the hash-chained audit log
and ``events.jsonl`` streamed to a temp dir and a reconcile pass every 10 steps. Only the
``run_scenario`` call is timed.

The floor: the least any dry run of the same lifecycle does in Python, the floor of issue 13
("with 3 slotted events per order"). Per order one slotted order record, three transitions
in a dict, five counter increments and three slotted events (ack, partial fill, final fill)
appended to a log. Records, transitions and events all stay alive for the whole round, over
1,000,000 orders: a real book's size, so the garbage collector walks what a long dry run
makes it walk (issue 13). With few live objects the floor is 2-3x cheaper, so each round also
times the floor at the E2E's N, printed as context: the E2E itself keeps no events here and
its book forgets terminal orders after ``retention_steps``.

Rounds are interleaved (floor, E2E, floor at the E2E's N, floor, E2E, ...), timed with
``time.process_time``; the medians and the median of the per-round ratios E2E / floor are
printed, each with the load average. The target of issue 13: E2E <= 12x the floor.

    python benchmarks/throughput.py                          # E2E 20,000 orders, floor 1,000,000, 5 rounds
    python benchmarks/throughput.py --e2e 100000 --rounds 3  # chosen sizes and rounds
"""

from __future__ import annotations

import argparse
import sys
import time

from _scenarios import run_orders, scenario
from _timing import Case, cpu_seconds, interleave, load_average, load_range, median_ratio, median_us

TARGET = 12.0


class FloorOrder:
    __slots__ = ("filled", "order_id", "qty", "state")

    def __init__(self, order_id: int, qty: int) -> None:
        self.order_id = order_id
        self.qty = qty
        self.filled = 0
        self.state = "NEW"


class FloorEvent:
    __slots__ = ("kind", "order_id", "qty", "seq", "state")

    def __init__(self, seq: int, kind: str, order_id: int, qty: int, state: str) -> None:
        self.seq = seq
        self.kind = kind
        self.order_id = order_id
        self.qty = qty
        self.state = state


def floor(n: int) -> tuple[float, int, dict[str, int]]:
    """CPU seconds of the floor's work on ``n`` orders, all of them alive until the end."""
    book: dict[int, FloorOrder] = {}
    transitions: dict[int, list[str]] = {}
    counters = {"place": 0, "ack": 0, "partial": 0, "filled": 0, "fill": 0}
    log: list[FloorEvent] = []

    def work() -> int:
        seq = 0
        for i in range(n):
            rec = FloorOrder(i, 2)
            book[i] = rec
            transitions[i] = ["NEW>ACK", "ACK>PARTIAL", "PARTIAL>FILLED"]
            counters["place"] += 1
            counters["ack"] += 1
            counters["partial"] += 1
            counters["filled"] += 1
            counters["fill"] += 1
            seq += 1
            log.append(FloorEvent(seq, "ack", i, 0, "ACK"))
            seq += 1
            log.append(FloorEvent(seq, "fill", i, 1, "PARTIAL"))
            rec.filled += 1
            seq += 1
            log.append(FloorEvent(seq, "fill", i, 1, "FILLED"))
            rec.filled += 1
            rec.state = "FILLED"
        return seq

    seconds, events = cpu_seconds(work)
    assert len(book) == n, len(book)
    assert len(log) == events == 3 * n, (len(log), events)
    # everything is freed when this returns, outside the timing (and before the next case runs)
    return seconds, n, {"events": events}


def e2e(n: int) -> tuple[float, int, dict[str, int]]:
    sc = scenario("e2e", n)
    seconds, figures = run_orders(sc, n, run_id="throughput")
    return seconds, n, figures


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e2e", type=int, default=20_000, metavar="N", help="orders per E2E run (default 20,000)")
    parser.add_argument("--floor", type=int, default=1_000_000, metavar="N", help="live orders of the floor")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 3 for a median; default 5)")
    args = parser.parse_args(argv)
    if args.e2e < 1 or args.floor < 1 or args.rounds < 1:
        parser.error("sizes and rounds must be >= 1")

    print(
        f"E2E: {args.e2e:,} orders (2 fills each) per run; floor: {args.floor:,} live orders, 3 slotted events each;"
        f" {args.rounds} interleaved rounds, CPU time (time.process_time); load {load_average():.2f} at the start"
    )
    start = time.perf_counter()
    samples = interleave(
        [
            Case("floor", lambda: floor(args.floor)),
            Case("E2E", lambda: e2e(args.e2e)),
            Case("floor at E2E's N", lambda: floor(args.e2e)),
        ],
        args.rounds,
    )
    floor_s, e2e_s, small_s = samples["floor"], samples["E2E"], samples["floor at E2E's N"]
    ratio, ratios = median_ratio(e2e_s, floor_s)
    events = e2e_s[-1].extra["events"] / args.e2e
    print(f"medians of {args.rounds} rounds ({time.perf_counter() - start:.0f} s wall):")
    print(f"  floor  {median_us(floor_s):10.3f} us/order  ({args.floor:,} live orders)  {load_range(floor_s)}")
    print(
        f"  E2E    {median_us(e2e_s):10.3f} us/order  ({args.e2e:,} orders, {events:.2f} events/order)"
        f"  {load_range(e2e_s)}"
    )
    each = ", ".join(f"{r:.1f}x" for r in ratios)
    met = "met" if ratio <= TARGET else "missed"
    print(
        f"  E2E / floor = {ratio:.1f}x (median of per-round ratios: {each})  {load_range(floor_s, e2e_s)}"
        f"  target <= {TARGET:.0f}x: {met}"
    )
    small, _ = median_ratio(e2e_s, small_s)
    print(
        f"  context, not the target: the floor with only {args.e2e:,} live orders is"
        f" {median_us(small_s):.3f} us/order ({load_range(small_s)}), E2E / that floor = {small:.1f}x"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
