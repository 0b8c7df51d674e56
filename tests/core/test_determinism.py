"""Same scenario and seed, same bytes: across processes and PYTHONHASHSEED values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.core.writer import RUN_FILES

CHILD = """
import sys
from pathlib import Path
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
for name in BUILTIN_SCENARIOS:
    run_scenario(builtin_scenario(name), out_dir=Path(sys.argv[1]))
"""
HASH_SEEDS = ("0", "4242")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every built-in scenario run in this process and in two child processes."""
    base = tmp_path_factory.mktemp("determinism")
    dirs = {"here": base / "here"}
    for name in BUILTIN_SCENARIOS:
        run_scenario(builtin_scenario(name), out_dir=dirs["here"])
    for seed in HASH_SEEDS:
        out = base / f"hashseed-{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(out)], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        dirs[seed] = out
    return dirs


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_events_jsonl_is_byte_identical_in_separate_processes(outputs: dict[str, Path], name: str) -> None:
    texts = {key: (out / "runs" / name / "events.jsonl").read_bytes() for key, out in outputs.items()}
    assert texts["0"], "no events written"
    assert texts["0"] == texts["4242"]
    assert texts["0"] == texts["here"]


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_every_run_file_is_byte_identical_in_separate_processes(outputs: dict[str, Path], name: str) -> None:
    for file_name in RUN_FILES:
        contents = {(out / "runs" / name / file_name).read_bytes() for out in outputs.values()}
        assert len(contents) == 1, file_name


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_running_twice_in_one_process_gives_the_same_bytes(tmp_path: Path, name: str) -> None:
    scenario = builtin_scenario(name)
    first = run_scenario(scenario, out_dir=tmp_path / "a")
    again = run_scenario(scenario, out_dir=tmp_path / "b")
    assert first.run_dir is not None
    assert again.run_dir is not None
    assert (first.run_dir / "events.jsonl").read_bytes() == (again.run_dir / "events.jsonl").read_bytes()


def test_generated_scenarios_depend_on_the_seed_only(tmp_path: Path) -> None:
    scenario = builtin_scenario("happy_path").with_overrides(
        generator={"probability": 0.7, "limit_share": 0.5, "cancel_share": 0.3},
        broker={"fill_model": "price_path"},
    )
    runs = [
        run_scenario(scenario.with_overrides(seed=seed), out_dir=tmp_path / str(i)) for i, seed in enumerate((1, 1, 2))
    ]
    texts = [(r.run_dir / "events.jsonl").read_bytes() for r in runs if r.run_dir is not None]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_a_seeded_fault_rate_gives_the_same_bytes_and_depends_on_the_seed(tmp_path: Path) -> None:
    # the FaultInjector draws from its own string-seeded random.Random
    scenario = builtin_scenario("failure_matrix").with_overrides(
        fault_rate={"rate": 0.3, "kinds": ["rate_limit", "timeout", "duplicate_fill", "out_of_order_fill"]},
        generator={"probability": 0.6, "cancel_share": 0.3},
    )
    runs = [
        run_scenario(scenario.with_overrides(seed=seed), out_dir=tmp_path / str(i)) for i, seed in enumerate((5, 5, 6))
    ]
    texts = [(r.run_dir / "events.jsonl").read_bytes() for r in runs if r.run_dir is not None]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]
    assert runs[0].metrics.total("faults_injected_total") > 6  # drawn faults on top of the schedule
