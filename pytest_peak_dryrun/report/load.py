"""Reading a snapshot directory's run documents back, each checked against its model.

Every report of a session is rendered from the run files on disk (the writer's session files
and ``peak-dryrun report`` alike), through :func:`read_run`: a document that is missing, not
JSON or not what its model says is one :class:`SnapshotError` naming the file, never a
half-understood report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.writer import run_dir

if TYPE_CHECKING:
    from ..core.snapshots import HealthSnapshot, MetricsSnapshot, StatusSnapshot

__all__ = ["RunDocuments", "SnapshotError", "load_json", "read_run"]


class SnapshotError(ValueError):
    """The directory is not a readable snapshot directory; the message names the path."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def load_json(path: Path) -> Any:
    """Parse one JSON file, turning every failure into a :class:`SnapshotError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SnapshotError(path, "no such file") from None
    except IsADirectoryError:
        raise SnapshotError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise SnapshotError(path, f"cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SnapshotError(path, "not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SnapshotError(path, f"not valid JSON ({exc})") from None


@dataclass(frozen=True)
class RunDocuments:
    """The health, status and metrics documents of one run, as their models."""

    health: HealthSnapshot
    status: StatusSnapshot
    metrics: MetricsSnapshot


def read_run(directory: Path, run_id: str) -> RunDocuments:
    """The documents of ``runs/<run_id>/`` under ``directory``, each validated by its model.

    Raises :class:`SnapshotError` naming the file: missing, not JSON, not a valid document,
    or a ``run_id`` that is not its directory's.
    """
    from pydantic import BaseModel, ValidationError

    from ..core.snapshots import HealthSnapshot, MetricsSnapshot, StatusSnapshot

    models: dict[str, type[BaseModel]] = {
        "health": HealthSnapshot,
        "status": StatusSnapshot,
        "metrics": MetricsSnapshot,
    }
    docs: dict[str, Any] = {}
    for name, model in models.items():
        path = run_dir(directory, run_id) / f"{name}.json"
        data = load_json(path)
        try:
            docs[name] = model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "document"
            raise SnapshotError(
                path, f"not a valid {name} document ({where}: {first['msg']}; {exc.error_count()} error(s))"
            ) from None
        if docs[name].run_id != run_id:
            raise SnapshotError(path, f"run_id {docs[name].run_id!r} does not match its directory {run_id!r}")
    return RunDocuments(**docs)
