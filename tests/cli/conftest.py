"""Snapshot directories for the operator-side tests (report, validate, serve, HTML)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pytest

from pytest_peak_dryrun.cli import main
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.report.session import write_session

# The four built-ins the report tables below were written for (a later built-in, amend, has its
# own golden in tests/golden and does not reshuffle every expected table).
ALL = ("failure_matrix", "happy_path", "partial_fills", "tripwire")
HEALTHY = tuple(name for name in ALL if name != "tripwire")


def build_snapshot(out: Path, names: Iterable[str], *, problems: Sequence[str] = ()) -> Path:
    ids = [run_scenario(builtin_scenario(name), out_dir=out).run_id for name in names]
    write_session(out, ids, problems=problems)
    return out


def tree_state(directory: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under ``directory``: size, mtime (ns) and sha256 of files."""
    state: dict[str, tuple[int, int, str]] = {}
    for path in sorted(directory.rglob("*")):
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[path.relative_to(directory).as_posix()] = (st.st_size, st.st_mtime_ns, digest)
    st = directory.stat()
    state["."] = (0, st.st_mtime_ns, "dir")
    return state


@pytest.fixture(scope="session")
def snapshot_all(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four built-in scenarios (tripwire needs the operator). Never modify it."""
    return build_snapshot(tmp_path_factory.mktemp("snap-all") / "snap", ALL)


@pytest.fixture(scope="session")
def snapshot_builtins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every built-in scenario (for what each one's golden file pins). Never modify it."""
    return build_snapshot(tmp_path_factory.mktemp("snap-builtins") / "snap", BUILTIN_SCENARIOS)


@pytest.fixture(scope="session")
def snapshot_healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Everything but tripwire: one degraded run (failure_matrix), two ok. Never modify it."""
    return build_snapshot(tmp_path_factory.mktemp("snap-healthy") / "snap", HEALTHY)


@pytest.fixture
def snapshot_copy(snapshot_all: Path, tmp_path: Path) -> Path:
    """A private copy of ``snapshot_all`` that a test may tamper with."""
    target = tmp_path / "snap"
    shutil.copytree(snapshot_all, target)
    return target


CliRunner = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run ``peak-dryrun ARGS`` in process: ``(exit status, stdout, stderr)``."""

    def run(*argv: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            rc = int(exc.code or 0)
        out, err = capsys.readouterr()
        return rc, out, err

    return run


@pytest.fixture
def tree() -> Callable[[Path], dict[str, tuple[int, int, str]]]:
    """``tree(dir)``: a listing with sizes, mtimes and hashes, to prove nothing was written."""
    return tree_state


@pytest.fixture
def make_snapshot() -> Callable[..., Path]:
    """``make_snapshot(out, names, problems=())``: write a fresh snapshot directory."""
    return build_snapshot
