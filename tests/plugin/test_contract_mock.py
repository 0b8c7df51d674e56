"""MockBroker passes the broker contract suite it ships for other adapters."""

from __future__ import annotations

import pytest

from pytest_peak_dryrun.contract import BrokerContract

pytest_plugins = ["pytester"]


class TestMockBrokerContract(BrokerContract):
    """The default contract_broker fixture is the MockBroker itself."""


def test_a_broken_adapter_fails_the_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import itertools
        import pytest
        from pytest_peak_dryrun import MockBroker
        from pytest_peak_dryrun.contract import BrokerContract

        class NotIdempotent(MockBroker):
            counter = itertools.count()
            def place_order(self, request, *, idempotency_key):
                return super().place_order(request, idempotency_key=f"{idempotency_key}-{next(self.counter)}")

        class TestBroken(BrokerContract):
            @pytest.fixture
            def contract_broker(self, sim_clock, contract_broker_config):
                return NotIdempotent(contract_broker_config, clock=sim_clock)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["FAILED *::TestBroken::test_same_idempotency_key_same_order_no_second_side_effect*"])
