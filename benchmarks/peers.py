"""The peers shape (one fill per order) through our dry run, backtrader and nautilus_trader.

Same process, same N market orders, rounds interleaved (ours, backtrader, nautilus, ours, ...)
so background load hits every engine alike; each run is timed in CPU seconds
(``time.process_time``: every thread of this process, the garbage collector included), after a
full collection. The medians of >= 3 rounds and the median of the per-round ratios
"we are Nx faster" (peer / ours, same round) are printed, each with the load average. Targets
of issue 13: >= 10x faster than backtrader, >= 20x faster than nautilus_trader.

What is timed for each engine (only the run call; building the scenario, bars or quote
ticks and the engine itself is not):

- ours: ``run_scenario`` with the ``peers`` shape of ``_scenarios.py``: one market order per
  step (qty 2, side drawn by the seeded generator), immediate fills (one fill per order), a
  reconcile pass every 10 steps, the metrics, events and the hash-chained audit log streamed
  to a temp dir, ``keep_events=False``.
- backtrader: ``Cerebro(stdstats=False)`` with its default BackBroker, an in-memory feed of
  N + 1 prebuilt bars (no pandas), one market order per bar for the first N bars,
  alternating buy and sell; each fills at the next bar's open. ``cerebro.run()`` is timed.
- nautilus_trader: ``BacktestEngine``, venue SIM (NETTING, margin account, 1M USD), EUR/USD
  from the test kit, N quote ticks, one market order per tick, alternating sides; stdout
  logging at ERROR. ``engine.run(streaming=True)`` is timed, so the post-run analysis done by
  ``engine.end()`` is left out.

Neither peer writes anything to disk; ours writes every event to two files with a hash
chain, runs pre-trade rails and reconciles.

    python benchmarks/peers.py               # N = 10,000, 5 rounds
    python benchmarks/peers.py 1000          # chosen N
    python benchmarks/peers.py 100000 3      # chosen N and number of rounds

The peers are optional: ``pip install -e '.[peers]'``. An engine that does not import is
skipped with a note, and the others are still measured.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from collections.abc import Callable
from typing import Any

from _scenarios import run_orders, scenario
from _timing import Case, cpu_seconds, interleave, load_average, load_range, median_ratio, median_us

INSTALL_HINT = "pip install -e '.[peers]'"
#: "we are Nx faster" targets of issue 13, by distribution name
TARGETS = {"backtrader": 10.0, "nautilus_trader": 20.0}

# A run takes N and returns (CPU seconds spent in the engine's run call, orders filled).
Runner = Callable[[int], tuple[float, int]]


# -- ours -------------------------------------------------------------------------------------


def run_ours(n: int) -> tuple[float, int]:
    seconds, figures = run_orders(scenario("peers", n), n, run_id="peers")
    return seconds, int(figures["filled"])


# -- backtrader -------------------------------------------------------------------------------


def make_backtrader_runner() -> Runner:
    import backtrader as bt

    class ListFeed(bt.feeds.DataBase):
        """Bars from a prebuilt list of (date number, price): no pandas, no file."""

        params = (("rows", ()),)

        def start(self) -> None:
            super().start()
            self._rows = iter(self.p.rows)

        def _load(self) -> bool:
            row = next(self._rows, None)
            if row is None:
                return False
            num, px = row
            lines = self.lines
            lines.datetime[0] = num
            lines.open[0] = lines.high[0] = lines.low[0] = lines.close[0] = px
            lines.volume[0] = 1e9
            lines.openinterest[0] = 0.0
            return True

    class OnePerBar(bt.Strategy):
        params = (("orders", 0), ("size", 2))

        def __init__(self) -> None:
            self.submitted = 0
            self.filled = 0

        def next(self) -> None:
            if self.submitted < self.p.orders:
                if self.submitted % 2 == 0:
                    self.buy(size=self.p.size)
                else:
                    self.sell(size=self.p.size)
                self.submitted += 1

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.filled += 1

    t0 = dt.datetime(2024, 1, 1)

    def run(n: int) -> tuple[float, int]:
        # A market order fills at the next bar's open: N + 1 bars for N fills.
        rows = tuple((bt.date2num(t0 + dt.timedelta(minutes=i)), 100.0) for i in range(n + 1))
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(ListFeed(rows=rows))
        cerebro.addstrategy(OnePerBar, orders=n)
        cerebro.broker.setcash(1e12)
        elapsed, strategies = cpu_seconds(cerebro.run)
        strat = strategies[0]
        assert strat.submitted == n, (strat.submitted, n)
        return elapsed, int(strat.filled)

    return run


# -- nautilus_trader --------------------------------------------------------------------------


def make_nautilus_runner() -> Runner:
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig, LoggingConfig, StrategyConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import QuoteTick
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId, Venue
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.trading.strategy import Strategy

    class OnePerTickConfig(StrategyConfig, frozen=True):
        instrument_id: str
        orders: int
        qty: int = 100_000

    class OnePerTick(Strategy):
        def __init__(self, config: OnePerTickConfig) -> None:
            super().__init__(config)
            self.instrument = InstrumentId.from_str(config.instrument_id)
            self.orders = config.orders
            self.qty = Quantity.from_int(config.qty)
            self.submitted = 0
            self.filled = 0

        def on_start(self) -> None:
            self.subscribe_quote_ticks(self.instrument)

        def on_quote_tick(self, tick: Any) -> None:
            if self.submitted < self.orders:
                side = OrderSide.BUY if self.submitted % 2 == 0 else OrderSide.SELL
                self.submit_order(self.order_factory.market(self.instrument, side, self.qty))
                self.submitted += 1

        def on_order_filled(self, event: Any) -> None:
            self.filled += 1

    instrument = TestInstrumentProvider.default_fx_ccy("EUR/USD")
    bid, ask = Price.from_str("1.10000"), Price.from_str("1.10002")
    depth = Quantity.from_int(10_000_000)
    t0 = 1_704_067_200_000_000_000  # 2024-01-01 UTC, ns

    def run(n: int) -> tuple[float, int]:
        engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
        try:
            engine.add_venue(
                Venue("SIM"),
                OmsType.NETTING,
                AccountType.MARGIN,
                [Money(1_000_000, USD)],
                base_currency=USD,
            )
            engine.add_instrument(instrument)
            ts = [t0 + i * 1_000_000_000 for i in range(n)]
            engine.add_data([QuoteTick(instrument.id, bid, ask, depth, depth, t, t) for t in ts])
            strat = OnePerTick(OnePerTickConfig(instrument_id=str(instrument.id), orders=n))
            engine.add_strategy(strat)
            elapsed, _ = cpu_seconds(lambda: engine.run(streaming=True))
            engine.end()
            assert strat.submitted == n, (strat.submitted, n)
            return elapsed, int(strat.filled)
        finally:
            engine.dispose()

    return run


# -- main -------------------------------------------------------------------------------------


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:  # pragma: no cover - importable but not installed as a dist
        return "?"


def engines() -> list[tuple[str, str, Runner]]:
    """(label, distribution, runner) of ours and of every peer that imports."""
    found: list[tuple[str, str, Runner]] = [("pytest-peak-dryrun", "pytest-peak-dryrun", run_ours)]
    peers: list[tuple[str, str, Callable[[], Runner]]] = [
        ("backtrader", "backtrader", make_backtrader_runner),
        ("nautilus_trader", "nautilus_trader", make_nautilus_runner),
    ]
    for module, dist, make in peers:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            print(f"{dist}: skipped, not importable ({exc}); install it with: {INSTALL_HINT}")
            continue
        found.append((f"{dist} {_version(dist)}", dist, make()))
    return found


def _case(label: str, run: Runner, n: int) -> Case:
    def timed() -> tuple[float, int, dict[str, Any]]:
        seconds, filled = run(n)
        return seconds, n, {"filled": filled}

    return Case(label, timed)


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 10_000
    rounds = int(argv[1]) if len(argv) > 1 else 5
    if n < 1 or rounds < 1:
        raise SystemExit("usage: python benchmarks/peers.py [N >= 1] [rounds >= 1]")
    found = engines()
    print(
        f"N = {n:,} market orders, one per step/bar/tick, one fill each; {rounds} interleaved round(s),"
        f" CPU time (time.process_time); load {load_average():.2f} at the start"
    )
    samples = interleave([_case(label, run, n) for label, _, run in found], rounds)
    ours = samples[found[0][0]]
    width = max(len(label) for label, _, _ in found)
    print(f"medians of {rounds} round(s):")
    for label, dist, _ in found:
        own = samples[label]
        filled = own[-1].extra["filled"]
        line = f"  {label:<{width}}  {median_us(own):9.2f} us/order  filled {filled:,}"
        if own is not ours:
            ratio, ratios = median_ratio(own, ours)
            each = ", ".join(f"{r:.2f}x" for r in ratios)
            met = "met" if ratio >= TARGETS[dist] else "missed"
            line += f"  we are {ratio:.2f}x faster (rounds: {each}; target >= {TARGETS[dist]:.0f}x: {met})"
        print(f"{line}  {load_range(own)}")
    short = [label for label, _, _ in found if samples[label][-1].extra["filled"] != n]
    if short:
        print(f"warning: fewer than {n:,} fills for {', '.join(short)}")


if __name__ == "__main__":
    main(sys.argv[1:])
