"""Every dry run in this suite trades through our own adapter, not the bare mock.

The ``pytest_dryrun_make_broker`` hook is the one place to plug an adapter in: the
``mock_broker`` fixture, ``dryrun``, ``run_dryrun`` and scenario files all call it.
"""

from __future__ import annotations

import pytest
from paper_adapter import PaperVenueAdapter

from pytest_peak_dryrun import MockBroker


@pytest.hookimpl(optionalhook=True)  # so `pytest -p no:peak_dryrun` still runs this suite
def pytest_dryrun_make_broker(config, scenario, clock):
    return PaperVenueAdapter(MockBroker(scenario.broker_config(), clock=clock))
