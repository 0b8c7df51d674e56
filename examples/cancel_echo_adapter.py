"""An adapter with a planted, realistic bug: it drops a fill that arrives while a cancel is pending.

The example of deterministic simulation testing (README, "Deterministic simulation
testing"). ``CancelEchoAdapter`` puts the plugin's MockBroker behind the Broker protocol the
way a team's adapter for a real venue might, with one belief baked in that is wrong: "once
we asked to cancel, an execution the venue stamps *after* our request is only the echo of
fills already reported in the cancel's confirmation, so forwarding it would count it twice".
A fill can win the race against a cancel (FIX allows PendingCancel -> PartiallyFilled), so
the adapter throws real executions away: the run's position silently differs from the
venue's.

Every hand-written scenario of this suite passes through it (``test_cancel_echo_adapter.py``):
in each, a cancel either completes in the step it was asked for or loses to a fill in that
same step. The fuzzer (``dryrun_fuzz``) finds the schedule that breaks it and shrinks it to a
few steps; the ``broker_agrees`` invariant names the order whose fill went missing.

The fix is one line: forward every fill (see ``FIXED_LINE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pytest_peak_dryrun import Fill, MockBroker, Order, OrderRequest

#: The planted bug and its fix, verbatim (a test swaps one for the other).
BUGGY_LINE: Final = "return position, [fill for fill in fills if not self._echo(fill)]"
FIXED_LINE: Final = "return position, list(fills)"


class CancelEchoAdapter:
    dry_run = True  # never a live venue

    def __init__(self, venue: MockBroker) -> None:
        self.venue = venue
        self.clock = venue.clock  # the run adopts the venue's simulated clock
        self._cancel_sent: dict[str, int] = {}  # broker order id -> step of our first cancel request

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        return self.venue.place_order(request, idempotency_key=idempotency_key)

    def cancel_order(self, broker_order_id: str) -> None:
        self.venue.cancel_order(broker_order_id)
        self._cancel_sent.setdefault(broker_order_id, self.clock.step)

    def race_cancel(self, broker_order_id: str) -> None:
        # lets the scenario's cancel_race fault through to the venue
        self.venue.race_cancel(broker_order_id)
        self._cancel_sent.setdefault(broker_order_id, self.clock.step)

    def query_order(self, broker_order_id: str) -> Order:
        return self.venue.query_order(broker_order_id)

    def list_open_orders(self) -> list[Order]:
        return self.venue.list_open_orders()

    def iter_fills(self, cursor: int) -> tuple[int, Sequence[Fill]]:
        position, fills = self.venue.iter_fills(cursor)
        # THE PLANTED BUG: executions stamped after our cancel request are taken for echoes.
        return position, [fill for fill in fills if not self._echo(fill)]

    def _echo(self, fill: Fill) -> bool:
        """The wrong belief: a fill the venue made after we asked to cancel is an echo."""
        sent = self._cancel_sent.get(fill.broker_order_id)
        return sent is not None and fill.step > sent
