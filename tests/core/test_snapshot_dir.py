"""What under a snapshot directory is ours, and how a new session takes it over (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.documents import IndexDocument
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import builtin_scenario
from pytest_peak_dryrun.core.snapshot_dir import (
    IN_PROGRESS_PROBLEM,
    begin_session,
    describe_foreign,
    in_progress_index,
    inspect_snapshot_dir,
)
from pytest_peak_dryrun.core.writer import SESSION_FILES
from pytest_peak_dryrun.report.session import write_session


def _session(out: Path, names: tuple[str, ...] = ("happy_path", "tripwire"), problems: tuple[str, ...] = ()) -> Path:
    ids = [run_scenario(builtin_scenario(name), out_dir=out).run_id for name in names]
    write_session(out, ids, problems=problems)
    return out


def _rel(out: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(out).as_posix() for p in paths]


def test_a_missing_or_empty_dir_holds_nothing(tmp_path: Path) -> None:
    for out in (tmp_path / "nowhere", tmp_path):
        plan = inspect_snapshot_dir(out)
        assert (plan.foreign, plan.runs, plan.tmp, plan.session_files) == ([], [], [], [])
        assert plan.summary() == ""


def test_a_complete_session_is_all_ours(tmp_path: Path) -> None:
    out = _session(tmp_path / "snap")
    plan = inspect_snapshot_dir(out)
    assert plan.foreign == []
    assert _rel(out, plan.runs) == ["runs/happy_path", "runs/tripwire"]
    assert sorted(_rel(out, plan.session_files)) == sorted(["index.json", *SESSION_FILES])
    assert plan.summary() == f"cleaned {out} at session start: removed 2 run folder(s) of an earlier session"


def test_temporary_files_of_interrupted_writes_are_ours(tmp_path: Path) -> None:
    out = _session(tmp_path / "snap")
    leftovers = [
        "runs/happy_path/events.jsonl.tmp",
        "runs/happy_path/.health.json.a1b2c3.tmp",
        ".dryrun_status_snapshot.md.x9y8.tmp",
        ".index.json.q1w2.tmp",
        ".peak-dryrun-probe-abc123",
    ]
    for rel in leftovers:
        (out / rel).write_text("half")
    plan = inspect_snapshot_dir(out)
    assert plan.foreign == []
    assert sorted(_rel(out, plan.tmp)) == sorted(leftovers)
    assert "5 temporary file(s) of an interrupted write" in plan.summary()


@pytest.mark.parametrize(
    ("rel", "foreign"),
    [
        ("notes.txt", "notes.txt"),  # a stranger at the top
        ("runs/photos/cat.jpg", "runs/photos/"),  # an unlisted folder of someone else's files
        ("runs/happy_path/notes.txt", "runs/happy_path/notes.txt"),  # a stranger inside our run folder
        ("runs/README", "runs/README"),  # a file where run folders live
        ("runs/happy_path/.secret.tmp", "runs/happy_path/.secret.tmp"),  # a .tmp that is not one of ours
        ("dryrun_health_snapshot.json.bak", "dryrun_health_snapshot.json.bak"),
    ],
)
def test_a_file_we_did_not_write_is_foreign(tmp_path: Path, rel: str, foreign: str) -> None:
    out = _session(tmp_path / "snap")
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_text("someone else's")
    plan = inspect_snapshot_dir(out)
    assert describe_foreign(plan) == foreign
    with pytest.raises(ValueError, match="did not write"):
        begin_session(plan)
    assert (out / rel).read_text() == "someone else's"
    assert json.loads((out / "index.json").read_text())["complete"] is True  # not even marked


def test_describe_foreign_lists_three_and_counts_the_rest(tmp_path: Path) -> None:
    for name in "abcde":
        (tmp_path / name).write_text("x")
    assert describe_foreign(inspect_snapshot_dir(tmp_path)) == "a, b, c and 2 more"


def test_an_unlisted_run_folder_is_ours_only_after_an_incomplete_session(tmp_path: Path) -> None:
    complete = _session(tmp_path / "complete", names=("happy_path",))
    run_scenario(builtin_scenario("tripwire"), out_dir=complete)  # written, never listed
    assert _rel(complete, inspect_snapshot_dir(complete).foreign) == ["runs/tripwire"]
    incomplete = _session(tmp_path / "incomplete", names=("happy_path",), problems=("worker gw1 crashed",))
    run_scenario(builtin_scenario("tripwire"), out_dir=incomplete)  # the crashed worker's run
    plan = inspect_snapshot_dir(incomplete)
    assert plan.foreign == []
    assert _rel(incomplete, plan.runs) == ["runs/happy_path", "runs/tripwire"]


def test_without_our_index_everything_is_foreign(tmp_path: Path) -> None:
    out = _session(tmp_path / "snap")
    (out / "index.json").write_text(json.dumps({"schema": "someone-else/v1", "runs": []}))
    plan = inspect_snapshot_dir(out)
    assert "index.json" in _rel(out, plan.foreign)
    assert "runs" in _rel(out, plan.foreign)
    (out / "index.json").unlink()
    assert "dryrun_status_snapshot.md" in _rel(out, inspect_snapshot_dir(out).foreign)


def test_a_symlink_is_never_ours(tmp_path: Path) -> None:
    out = _session(tmp_path / "snap")
    elsewhere = tmp_path / "precious.md"
    elsewhere.write_text("keep")
    (out / "dryrun_status_snapshot.md").unlink()
    (out / "dryrun_status_snapshot.md").symlink_to(elsewhere)
    assert _rel(out, inspect_snapshot_dir(out).foreign) == ["dryrun_status_snapshot.md"]


def test_begin_session_marks_in_progress_and_removes_only_ours(tmp_path: Path) -> None:
    out = _session(tmp_path / "snap")
    (out / "runs/happy_path/events.jsonl.tmp").write_text("half")
    begin_session(inspect_snapshot_dir(out))
    assert sorted(p.name for p in out.iterdir()) == ["index.json"]
    index = json.loads((out / "index.json").read_text())
    assert index == in_progress_index()
    assert index["complete"] is False
    assert index["problems"] == [IN_PROGRESS_PROBLEM]
    assert index["runs"] == []
    IndexDocument.model_validate(index)  # a valid index: report and validate read it as incomplete
    # a session killed right here leaves a directory the next one still recognises as ours
    run_scenario(builtin_scenario("happy_path"), out_dir=out)
    plan = inspect_snapshot_dir(out)
    assert plan.foreign == []
    assert _rel(out, plan.runs) == ["runs/happy_path"]
