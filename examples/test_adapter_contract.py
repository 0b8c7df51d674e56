"""Our adapter passes the plugin's broker contract suite: one fixture is all it takes."""

import pytest
from paper_adapter import PaperVenueAdapter

from pytest_peak_dryrun import BrokerContract, MockBroker


class TestPaperVenueAdapter(BrokerContract):
    @pytest.fixture
    def contract_broker(self, sim_clock, contract_broker_config):
        return PaperVenueAdapter(MockBroker(contract_broker_config, clock=sim_clock))


@pytest.mark.dryrun("partial_fills")
def test_adapter_runs_the_partial_fill_scenario(dryrun, mock_broker):
    assert isinstance(mock_broker, PaperVenueAdapter)
    assert dryrun.state == "STOPPED"
    assert dryrun.report["orders"]["by_state"] == {"CANCELED": 1, "FILLED": 2}
