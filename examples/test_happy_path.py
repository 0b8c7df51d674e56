"""The whole product in one test: a dry run end to end, checked against a golden report."""

import pytest


@pytest.mark.dryrun("happy_path")
def test_happy_path(dryrun, dryrun_snapshot):
    # The snapshot first: a test that fails before its snapshot assertion loses its golden
    # on `pytest --snapshot-update` (syrupy's update trap, see the README).
    assert dryrun_snapshot == dryrun.report
    assert dryrun.state == "STOPPED"
    assert dryrun.health.status == "ok"
    assert dryrun.metrics.value("orders_place_total", outcome="ok") == 5
