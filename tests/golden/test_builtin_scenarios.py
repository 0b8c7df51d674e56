"""Golden reports of the built-in scenarios: a change in behaviour is a readable diff in review."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_builtin_scenario_report(run_dryrun: Callable[..., Any], dryrun_snapshot: Any, name: str) -> None:
    result = run_dryrun(name)
    assert dryrun_snapshot == result.report
