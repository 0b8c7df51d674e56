"""MockBroker passes the broker contract suite it ships for other adapters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pytest_peak_dryrun.contract import BrokerContract
from pytest_peak_dryrun.core.broker import FillModel, MockBrokerConfig

pytest_plugins = ["pytester"]


class TestMockBrokerContract(BrokerContract):
    """The default contract_broker fixture is the MockBroker itself."""


class TestMockBrokerContractUnderTheOtherFillModels(BrokerContract):
    """Limit-aware fills in every model (issue 15): the contract's far-away limit order rests
    and its market orders fill at the market under ``immediate`` and ``partial`` too, not
    only under the contract's default ``price_path``."""

    @pytest.fixture(params=[FillModel.IMMEDIATE, FillModel.PARTIAL], ids=lambda model: model.value)
    def contract_broker_config(self, request: pytest.FixtureRequest) -> MockBrokerConfig:
        return MockBrokerConfig(instruments={self.INSTRUMENT: Decimal("100.00")}, fill_model=request.param)


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
    result.assert_outcomes(passed=14, failed=1)  # 10 + the 4 replace tests (a MockBroker can replace)
    result.stdout.fnmatch_lines(["FAILED *::TestBroken::test_same_idempotency_key_same_order_no_second_side_effect*"])


def _broken_venue(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(
        """
        from decimal import Decimal
        import msgspec
        import pytest
        from pytest_peak_dryrun import BrokerContract, MockBroker

        class Broken(MockBroker):
        """
        + body
        + """
        class TestBroken(BrokerContract):
            @pytest.fixture
            def contract_broker(self, sim_clock, contract_broker_config):
                return Broken(contract_broker_config, clock=sim_clock)
        """
    )
    return pytester.runpytest("-q")


def test_a_broker_filling_at_price_zero_fails_the_contract(pytester: pytest.Pytester) -> None:
    result = _broken_venue(
        pytester,
        """
            def iter_fills(self, cursor):
                cursor, fills = super().iter_fills(cursor)
                return cursor, [msgspec.structs.replace(f, **{"price": Decimal(0)}) for f in fills]
        """,
    )
    result.assert_outcomes(passed=14, failed=1)  # 10 + the 4 replace tests (a MockBroker can replace)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: fill MB-00000001-F1 at 0: "
            "expected a positive price within ±50% of the reference price 100.00",
            "FAILED *::TestBroken::test_fills_are_priced_near_the_reference_price*",
        ]
    )


def test_a_broker_filling_far_from_the_reference_fails_the_contract(pytester: pytest.Pytester) -> None:
    result = _broken_venue(
        pytester,
        """
            def iter_fills(self, cursor):
                cursor, fills = super().iter_fills(cursor)
                return cursor, [msgspec.structs.replace(f, **{"price": f.price * 100}) for f in fills]
        """,
    )
    result.assert_outcomes(passed=14, failed=1)  # 10 + the 4 replace tests (a MockBroker can replace)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: fill MB-00000001-F1 at 10000.00: expected a positive price within ±50% *",
            "FAILED *::TestBroken::test_fills_are_priced_near_the_reference_price*",
        ]
    )


def test_a_broker_overfilling_fails_the_contract(pytester: pytest.Pytester) -> None:
    # Every fill is delivered twice under a second id: the order's fills add up to twice its quantity.
    result = _broken_venue(
        pytester,
        """
            def iter_fills(self, cursor):
                cursor, fills = super().iter_fills(cursor)
                doubled = []
                for f in fills:
                    doubled += [f, msgspec.structs.replace(f, **{"fill_id": f.fill_id + "-again"})]
                return cursor, doubled
        """,
    )
    result.stdout.fnmatch_lines(["E * AssertionError: the fills of MB-00000001 add up to 14, above its quantity 7"])
    failed = {line.split(" - ")[0].split("::")[-1] for line in result.stdout.lines if line.startswith("FAILED ")}
    assert "test_fills_never_exceed_the_order_and_agree_with_queries" in failed


def test_a_query_that_disagrees_with_the_fills_fails_the_contract(pytester: pytest.Pytester) -> None:
    result = _broken_venue(
        pytester,
        """
            def query_order(self, broker_order_id):
                order = super().query_order(broker_order_id)
                return msgspec.structs.replace(order, **{"filled_qty": Decimal(0)})
        """,
    )
    result.stdout.fnmatch_lines(
        ["E * AssertionError: query_order('MB-00000001') says filled_qty 0; its fills add up to 7"]
    )
    failed = {line.split(" - ")[0].split("::")[-1] for line in result.stdout.lines if line.startswith("FAILED ")}
    assert "test_fills_never_exceed_the_order_and_agree_with_queries" in failed


def test_a_replace_order_that_cannot_be_called_as_the_protocol_says_fails_the_contract(
    pytester: pytest.Pytester,
) -> None:
    # offered under other keyword names: the replace tests fail (a skip is only for a broker without it)
    result = _broken_venue(
        pytester,
        """
            def replace_order(self, broker_order_id, *, quantity=None, price=None):
                return super().replace_order(broker_order_id, qty=quantity, limit_price=price)
        """,
    )
    result.assert_outcomes(passed=11, failed=4)
    result.stdout.fnmatch_lines(["E * AssertionError: Broken.replace_order*"])
