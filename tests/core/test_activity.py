"""StepActivity: events counted per range of steps and chart category while the run happens."""

from __future__ import annotations

from typing import ClassVar

from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.events import ACTIVITY_CATEGORIES, FillEvent, OrderCancelEvent, RailTripEvent
from pytest_peak_dryrun.core.snapshots import ACTIVITY_BARS, StepActivity
from pytest_peak_dryrun.core.vocab import Outcome, Rail


class OddFill(FillEvent, frozen=True, kw_only=True):
    """A subclass of a kind of the table, with a category the chart does not know."""

    CATEGORY: ClassVar[str] = "not-a-chart-category"


class RailFill(FillEvent, frozen=True, kw_only=True):
    """A subclass that moves to another category of the chart."""

    CATEGORY: ClassVar[str] = "rails"


def _fill(cls: type[FillEvent] = FillEvent) -> FillEvent:
    return cls(order_id="O-1", fill_id="F-1", qty="1", price="2", exec_seq=1, cum_qty="1")


def test_events_are_counted_by_category_in_the_bucket_of_their_step() -> None:
    clock = SimClock()
    activity = StepActivity(clock, span_steps=2 * ACTIVITY_BARS)  # two steps per bucket
    assert activity.width == 2
    cancel = OrderCancelEvent(order_id="O-1", outcome=Outcome.OK)
    trip = RailTripEvent(rail=Rail.KILL_SWITCH, detail="x")
    activity(1, clock.now_ms, cancel)  # step 0
    clock.advance_step()
    activity(2, clock.now_ms, _fill())  # step 1: the same bucket as step 0
    activity(3, clock.now_ms, _fill(OddFill))
    clock.advance_step()
    clock.advance_step()
    clock.advance_step()
    activity(4, clock.now_ms, trip)  # step 4: the third bucket; the second stays empty
    activity(5, clock.now_ms, _fill(RailFill))
    assert [(b.first_step, b.last_step, b.counts) for b in activity.documents()] == [
        (0, 1, {"orders": 1, "fills": 1, "other": 1}),
        (2, 3, {}),
        (4, 5, {"rails": 2}),
    ]
    assert list(ACTIVITY_CATEGORIES)[-1] == "other"
