"""A scenario file with ``[[replaces]]`` meeting an adapter without ``replace_order``: an early, named failure."""

from __future__ import annotations

import json

import pytest

ADAPTER = """
import pytest
from pytest_peak_dryrun import MockBroker


class OldAdapter:
    '''Written before amend/replace existed: the five protocol methods, no replace_order.'''

    dry_run = True

    def __init__(self, venue):
        self.venue = venue
        self.clock = venue.clock

    def place_order(self, request, *, idempotency_key):
        return self.venue.place_order(request, idempotency_key=idempotency_key)

    def cancel_order(self, broker_order_id):
        self.venue.cancel_order(broker_order_id)

    def query_order(self, broker_order_id):
        return self.venue.query_order(broker_order_id)

    def list_open_orders(self):
        return self.venue.list_open_orders()

    def iter_fills(self, cursor):
        return self.venue.iter_fills(cursor)


@pytest.hookimpl(optionalhook=True)
def pytest_dryrun_make_broker(config, scenario, clock):
    return OldAdapter(MockBroker(scenario.broker_config(), clock=clock))
"""

SCENARIO = """
name = "amend_once"
steps = 3

[[orders]]
step = 1
id = "o1"
instrument = "DEMO-EUR"
side = "BUY"
qty = "2"
order_type = "LIMIT"
limit_price = "90.00"

[[replaces]]
step = 2
order = "o1"
qty = "1"
"""


def test_a_replace_scenario_fails_the_preflight_of_an_adapter_without_replace(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ADAPTER)
    pytester.makefile(".toml", dryrun_amend=SCENARIO)
    pytester.makefile(".toml", dryrun_plain=SCENARIO.split("[[replaces]]")[0].replace("amend_once", "plain"))
    result = pytester.runpytest_subprocess("--snapshot-update")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*AttributeError*")
    amend = json.loads((pytester.path / "dryrun_amend.golden.json").read_text(encoding="utf-8"))
    plain = json.loads((pytester.path / "dryrun_plain.golden.json").read_text(encoding="utf-8"))
    # the run stopped before its first step, naming the check and the fix; without replaces it runs
    assert (amend["final_state"], amend["steps"]["run"], amend["orders"]["placed"]) == ("PREFLIGHT_FAILED", 0, 0)
    assert amend["health"]["status"] == "failed"
    assert any(
        "broker_replace: OldAdapter has no replace_order(broker_order_id, *, qty=None, limit_price=None), "
        "and the scenario replaces orders ([[replaces]]); give the adapter that method" in reason
        for reason in amend["health"]["reasons"]
    ), amend["health"]["reasons"]
    assert plain["final_state"] == "STOPPED"


def test_the_mock_broker_runs_a_replace_scenario_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", dryrun_amend=SCENARIO)
    pytester.runpytest_subprocess("--snapshot-update").assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    golden = (pytester.path / "dryrun_amend.golden.json").read_text(encoding="utf-8")
    assert '"orders_replace_total{outcome=\\"ok\\"}": 1' in golden
    assert '"order_state_transitions_total{from_state=\\"ACK\\",to_state=\\"PENDING_REPLACE\\"}": 1' in golden
