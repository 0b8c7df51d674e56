"""Scenario files as tests: ``dryrun_*.toml`` / ``dryrun_*.json`` become test items.

Each file is one item that runs its scenario and compares the normalized report with the
golden file beside it, ``<stem>.golden.json``, with syrupy's semantics: ``--snapshot-update``
writes it; a missing or different golden fails with a readable diff of the report, not a
traceback. Follows pytest's own non-Python test example (``from_parent``, ``repr_failure``,
``reportinfo``).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Final

import pytest

__all__ = ["GOLDEN_SUFFIX", "DryRunScenarioFile", "DryRunScenarioItem", "is_scenario_file"]

GOLDEN_SUFFIX: Final = ".golden.json"
#: The runbook's own output files share the ``dryrun_*.json`` pattern; they are not scenarios.
SNAPSHOT_NAMES: Final = frozenset(
    {"dryrun_health_snapshot.json", "dryrun_status_snapshot.json", "dryrun_metrics_snapshot.json"}
)


def is_scenario_file(path: Path) -> bool:
    name = path.name
    return (
        name.startswith("dryrun_")
        and name.endswith((".toml", ".json"))
        and not name.endswith(GOLDEN_SUFFIX)
        and name not in SNAPSHOT_NAMES
    )


class ScenarioItemFailure(Exception):
    """A failure that reads as the user's domain problem: shown without a traceback."""


class DryRunScenarioFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        return [DryRunScenarioItem.from_parent(self, name=self.path.stem)]


class DryRunScenarioItem(pytest.Item):
    #: Puts the item under the NO-LIVE network guard like any dry-run test.
    is_dryrun_item: Final = True

    @property
    def golden_path(self) -> Path:
        return self.path.with_name(self.path.stem + GOLDEN_SUFFIX)

    def runtest(self) -> None:
        from ..core.canonical import dumps
        from ..core.orchestrator import DryRunConfig
        from ..core.scenario import ScenarioError
        from .fixtures import execute_dryrun, resolve_scenario
        from .session import SESSION_KEY

        session = self.config.stash[SESSION_KEY]
        try:  # the marker's path: loading, and --dryrun-seed over the file's seed
            scenario = resolve_scenario(self.path, base_dir=self.path.parent, seed=None, steps=None, session=session)
        except ScenarioError as exc:
            raise ScenarioItemFailure(str(exc)) from None
        if scenario.steps > session.max_steps:
            raise ScenarioItemFailure(
                f"{self.path}: steps: {scenario.steps} is above the configured bound {session.max_steps}"
                " (ini dryrun_max_steps)"
            )
        result = execute_dryrun(
            self.config, self, scenario, broker=None, dryrun_config=DryRunConfig(max_steps=session.max_steps)
        )
        actual = dumps(result.report)
        golden = self.golden_path
        update = bool(getattr(self.config.option, "update_snapshots", False))
        if update:
            if not golden.exists() or golden.read_text("utf-8") != actual:
                from ..core.writer import atomic_write_text

                atomic_write_text(golden, actual)
            return
        if not golden.exists():
            raise ScenarioItemFailure(
                f"golden file {golden.name} is missing; run pytest with --snapshot-update to write it"
            )
        expected = golden.read_text("utf-8")
        if expected != actual:
            diff = difflib.unified_diff(
                expected.splitlines(),
                actual.splitlines(),
                fromfile=f"{golden.name} (golden)",
                tofile=f"{self.path.name} (this run)",
                lineterm="",
            )
            raise ScenarioItemFailure(
                "report differs from the golden file (run with --snapshot-update if the change is intended):\n"
                + "\n".join(diff)
            )

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if isinstance(excinfo.value, ScenarioItemFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"dry-run scenario {self.name}"
