"""Scenario files as tests: ``dryrun_*.toml`` / ``dryrun_*.json`` become test items.

Each file is one item, marked ``dryrun`` (so ``-m dryrun`` selects it), that runs its
scenario, checks the invariant oracle (:mod:`.invariants`: a violation fails the item before
any golden is looked at, so ``--snapshot-update`` cannot record the report of a run that
broke one, and a fuzz reproducer fails on what it reproduces, not on its missing golden),
and compares the normalized report with the golden file beside it,
``<stem>.golden.json``, through syrupy (``ScenarioGoldenExtension``): syrupy counts it in
its summary, ``--snapshot-update`` writes it and says so, and the golden of a renamed or
deleted scenario is reported unused and removed by ``--snapshot-update``. A missing or
different golden fails with a readable diff of the report, not a traceback. Follows
pytest's own non-Python test example (``from_parent``, ``repr_failure``, ``reportinfo``).

This module is imported for every candidate file name at collection; syrupy and the core
are imported inside ``runtest``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from syrupy.session import SnapshotSession

    from ..core.dryrun import DryRunResult

__all__ = [
    "GOLDEN_SUFFIX",
    "SCENARIO_SUFFIXES",
    "DryRunScenarioFile",
    "DryRunScenarioItem",
    "golden_path",
    "is_scenario_file",
]

GOLDEN_SUFFIX: Final = ".golden.json"
SCENARIO_SUFFIXES: Final = (".toml", ".json")
#: The runbook's own output files share the ``dryrun_*.json`` pattern; they are not scenarios.
SNAPSHOT_NAMES: Final = frozenset(
    {"dryrun_health_snapshot.json", "dryrun_status_snapshot.json", "dryrun_metrics_snapshot.json"}
)


def is_scenario_file(path: Path) -> bool:
    name = path.name
    return (
        name.startswith("dryrun_")
        and name.endswith(SCENARIO_SUFFIXES)
        and not name.endswith(GOLDEN_SUFFIX)
        and name not in SNAPSHOT_NAMES
    )


def golden_path(scenario: Path) -> Path:
    """The golden file of a scenario file: ``dryrun_x.toml`` -> ``dryrun_x.golden.json``."""
    return scenario.with_name(scenario.stem + GOLDEN_SUFFIX)


class ScenarioItemFailure(Exception):
    """A failure that reads as the user's domain problem: shown without a traceback."""


class DryRunScenarioFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        for suffix in SCENARIO_SUFFIXES:
            twin = self.path.with_suffix(suffix)
            if twin != self.path and is_scenario_file(twin) and twin.is_file():
                raise self.CollectError(
                    f"{self.path.name} and {twin.name} would share the golden file {golden_path(self.path).name}; "
                    "rename one of them"
                )
        item = DryRunScenarioItem.from_parent(self, name=self.path.stem)
        # The marker's own form (scenario path relative to the test file), so `-m dryrun`
        # selects scenario files like marked tests, and code reading the marker sees the truth.
        item.add_marker(pytest.mark.dryrun(self.path.name))
        return [item]


class DryRunScenarioItem(pytest.Item):
    #: Puts the item under the NO-LIVE network guard like any dry-run test.
    is_dryrun_item: Final = True

    @property
    def golden_path(self) -> Path:
        return golden_path(self.path)

    def runtest(self) -> None:
        from ..core.orchestrator import DryRunConfig
        from ..core.scenario import ScenarioError
        from .fixtures import execute_dryrun, resolve_scenario
        from .session import SESSION_KEY

        snapshots = self._snapshot_session()
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
        self._check_invariants(result)
        self._compare_with_golden(result.report, snapshots)

    def _check_invariants(self, result: DryRunResult) -> None:
        from .invariants import check_item, describe_violations

        violations = check_item(self, result)
        if violations:
            lines = describe_violations(violations, result.orchestrator.stream.redactor)
            raise ScenarioItemFailure(
                f"{self.path.name}: the run broke {len(violations)} invariant(s) "
                "(its golden file is compared once they hold):\n" + "\n".join(lines)
            )

    def _snapshot_session(self) -> SnapshotSession:
        # syrupy keeps its session on the config (its own `snapshot` fixture reads it there).
        snapshots: SnapshotSession | None = getattr(self.config, "_syrupy", None)
        if snapshots is None:
            raise ScenarioItemFailure(
                f"{self.path.name}: scenario files are compared with their golden file by syrupy, "
                "which is disabled in this run (-p no:syrupy); enable syrupy to run scenario files"
            )
        return snapshots

    def _compare_with_golden(self, report: Any, snapshots: SnapshotSession) -> None:
        from syrupy.assertion import SnapshotAssertion

        from .snapshot_ext import ScenarioGoldenExtension, canonical_golden, scenario_location

        golden = self.golden_path
        expected = golden.read_text("utf-8") if golden.is_file() else None
        option = self.config.option
        extra: dict[str, Any] = {}
        if hasattr(option, "update_new_snapshots_only"):  # not in syrupy 4.x
            extra["update_new_snapshots_only"] = bool(option.update_new_snapshots_only)
        snapshot = SnapshotAssertion(
            update_snapshots=bool(option.update_snapshots),
            extension_class=ScenarioGoldenExtension,
            test_location=scenario_location(self),
            session=snapshots,
            **extra,
        )
        if snapshot == report:  # syrupy records the outcome and, when updating, writes the file
            return
        if expected is None:
            raise ScenarioItemFailure(
                f"golden file {golden.name} is missing; run pytest with --snapshot-update to write it"
            )
        diff = difflib.unified_diff(
            expected.splitlines(),
            canonical_golden(report).splitlines(),
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
        # A line number, not None: pytest asserts one when it reports a skipped item.
        return self.path, 0, f"dry-run scenario {self.name}"
