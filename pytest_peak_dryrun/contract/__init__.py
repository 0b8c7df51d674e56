"""A reusable broker contract suite: run it against your own adapter with one fixture.

::

    # tests/test_my_adapter_contract.py
    import pytest
    from pytest_peak_dryrun import BrokerContract

    class TestMyAdapter(BrokerContract):
        @pytest.fixture
        def contract_broker(self, sim_clock, contract_broker_config):
            return MyAdapter(MyVenue(clock=sim_clock, prices=contract_broker_config.instruments))

The adapter must run on the ``sim_clock`` fixture's clock (the suite advances it) and trade
the instruments of ``contract_broker_config`` (``DEMO-EUR`` at 100.00): fill prices are
checked against that reference price.
"""

from __future__ import annotations

from .broker_contract import BrokerContract

__all__ = ["BrokerContract"]
