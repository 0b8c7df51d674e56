"""The syrupy extension behind the ``dryrun_snapshot`` fixture.

Golden reports are readable ``.json`` files serialized through the same canonical JSON as
the snapshot writer (so ``Decimal`` stays ``"1.50"``, which syrupy's stock JSON extension
would write as ``Decimal('1.5')``). They live in their own directory,
``__dryrun_snapshots__/<test file>/<test>.json``, because syrupy's own
``JSONSnapshotExtension`` claims every ``.json`` file under ``__snapshots__``: sharing that
directory would make it report our files as unused and delete them on the second
``--snapshot-update``.

Imported only when the fixture is used (syrupy costs ~30 ms to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from ..core.canonical import dumps

if TYPE_CHECKING:
    from syrupy.location import PyTestLocation

__all__ = ["SNAPSHOT_DIRNAME", "DryRunReportExtension"]

SNAPSHOT_DIRNAME: Final = "__dryrun_snapshots__"


class DryRunReportExtension(SingleFileSnapshotExtension):
    """One canonical-JSON golden file per assertion."""

    file_extension = "json"
    _file_extension = "json"  # syrupy 4.x (Python 3.10) reads the private name
    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(Path(test_location.filepath).parent / SNAPSHOT_DIRNAME / test_location.basename)

    def serialize(self, data: Any, **kwargs: Any) -> str:
        return dumps(data)
