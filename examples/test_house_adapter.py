"""The house broker, adapted with ``BrokerAdapter``: the contract suite and dry runs through it."""

from decimal import Decimal

import pytest
from house_adapter import HouseAdapter
from house_broker import HouseBroker, Throttled

from pytest_peak_dryrun import BrokerContract


class TestHouseAdapter(BrokerContract):
    @pytest.fixture
    def contract_broker(self, sim_clock, contract_broker_config):
        return HouseAdapter(HouseBroker(sim_clock, prices=contract_broker_config.instruments))


@pytest.fixture
def mock_broker(dryrun_scenario, sim_clock):
    """Every dry run in this module trades through the house broker, set up like the scenario."""
    venue = HouseBroker(
        sim_clock,
        prices=dryrun_scenario.instruments,
        ack_delay=dryrun_scenario.broker.ack_latency_steps,
        slices=dryrun_scenario.broker.partial_slices,
        cancel_delay=dryrun_scenario.broker.cancel_latency_steps,
    )
    return HouseAdapter(venue)


@pytest.mark.dryrun("partial_fills")
def test_partial_fills_through_the_house_broker(dryrun, mock_broker):
    assert dryrun.state == "STOPPED"
    # the buy fills in three slices, the canceled one stops between slices, the marketable
    # sell limit fills (at once here: the house broker does not slice limit orders)
    assert dryrun.report["orders"]["by_state"] == {"CANCELED": 1, "FILLED": 2}
    assert dryrun.report["reconcile"]["mismatches"] == {}
    assert mock_broker.venue.status("H00001").status == "FILLED"


def test_throttling_is_retried(run_dryrun, mock_broker):
    mock_broker.venue.script("send", Throttled())
    result = run_dryrun("happy_path")
    assert result.state == "STOPPED"
    assert result.metrics.value("retry_attempts_total", op="place", reason="rate_limit") == 1
    assert result.metrics.value("orders_place_total", outcome="ok") == 5
    assert result.status.positions["DEMO-EUR"] == Decimal("8.25")
