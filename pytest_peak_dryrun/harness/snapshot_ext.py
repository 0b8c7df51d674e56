"""The syrupy extensions behind golden reports: ``dryrun_snapshot`` and scenario files.

Both write canonical JSON (the snapshot writer's serialization: sorted keys, ``Decimal`` as
its exact string ``"1.50"``, which syrupy's stock JSON extension would write as
``Decimal('1.5')``), after applying syrupy's ``exclude``, ``include`` and ``matcher`` the way
syrupy's own JSON extension does, so ``dryrun_snapshot(exclude=props("run_id"))`` and
``dryrun_snapshot.with_defaults(...)`` mean what they mean for ``snapshot``.

Neither may collide with syrupy's ``JSONSnapshotExtension``, which claims every ``.json``
file nested in ``__snapshots__/``, nor with each other:

- ``DryRunReportExtension`` keeps its files in their own directory,
  ``__dryrun_snapshots__/<test file>/<test>.json``;
- ``ScenarioGoldenExtension`` keeps the name scenario files always had,
  ``dryrun_<name>.golden.json`` beside ``dryrun_<name>.toml``, and only ever discovers files
  of that pattern in that one directory (never recursively: syrupy treats every other file a
  discovery finds as a candidate for deletion).

Imported only when a golden is compared (syrupy costs ~30 ms to import).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from syrupy.data import Snapshot, SnapshotCollection, SnapshotCollections
from syrupy.extensions.amber.serializer import Repr
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

from ..core.canonical import dumps
from .collect import GOLDEN_SUFFIX, SCENARIO_SUFFIXES, golden_path, is_scenario_file

if TYPE_CHECKING:
    from collections.abc import Callable

    from syrupy.types import PropertyPath

    #: syrupy's filter and matcher callables (keyword-only ``prop``/``data`` and ``path``).
    PropertyFilter = Callable[..., bool]
    PropertyMatcher = Callable[..., Any]

__all__ = [
    "SNAPSHOT_DIRNAME",
    "DryRunReportExtension",
    "ScenarioGoldenExtension",
    "canonical_golden",
    "scenario_location",
]

SNAPSHOT_DIRNAME: Final = "__dryrun_snapshots__"


def canonical_golden(
    data: Any,
    *,
    exclude: PropertyFilter | None = None,
    include: PropertyFilter | None = None,
    matcher: PropertyMatcher | None = None,
) -> str:
    """The golden text of ``data``: syrupy's filters and matcher applied, then canonical JSON.

    As in syrupy's ``JSONSnapshotExtension``: ``exclude``/``include`` decide mapping keys
    (``prop`` is the key, ``path`` the path of the mapping), the matcher sees every value
    (``path_type``'s replacement is written as its text, e.g. ``"datetime"``).
    """
    return dumps(_filter(data, path=(), exclude=exclude, include=include, matcher=matcher))


def _filter(
    data: Any,
    *,
    path: PropertyPath,
    exclude: PropertyFilter | None,
    include: PropertyFilter | None,
    matcher: PropertyMatcher | None,
) -> Any:
    if matcher is not None:
        data = matcher(data=data, path=path)
    if isinstance(data, Repr):
        return repr(data)
    if isinstance(data, (str, int, float, Decimal, Enum)) or data is None:
        return data  # canonical JSON writes these exactly (Decimal as "1.50", never 1.5)
    if isinstance(data, Mapping):
        kept: dict[Any, Any] = {}
        for key, value in data.items():
            if exclude is not None and exclude(prop=key, path=path):
                continue
            if include is not None and not include(prop=key, path=path):
                continue
            kept[key] = _filter(
                value, path=(*path, (key, type(value))), exclude=exclude, include=include, matcher=matcher
            )
        return kept
    if isinstance(data, (list, tuple, set, frozenset)):
        # sets in sorted order, as canonical JSON writes them (never hash order)
        values = sorted(data) if isinstance(data, (set, frozenset)) else data
        return [
            _filter(value, path=(*path, (index, type(value))), exclude=exclude, include=include, matcher=matcher)
            for index, value in enumerate(values)
        ]
    return data  # canonical JSON names the type it cannot write


class _CanonicalJSON(SingleFileSnapshotExtension):
    """Text files of canonical JSON, honouring syrupy's exclude/include/matcher."""

    _write_mode = WriteMode.TEXT

    def serialize(
        self,
        data: Any,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> str:
        return canonical_golden(data, exclude=exclude, include=include, matcher=matcher)


class DryRunReportExtension(_CanonicalJSON):
    """One canonical-JSON golden file per ``dryrun_snapshot`` assertion."""

    file_extension = "json"
    _file_extension = "json"  # syrupy 4.x (Python 3.10) reads the private name

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(Path(test_location.filepath).parent / SNAPSHOT_DIRNAME / test_location.basename)


class ScenarioGoldenExtension(_CanonicalJSON):
    """The golden file beside a ``dryrun_*.toml|json`` scenario file.

    A golden belongs to the scenario file of the same stem, so it is *unused* exactly when
    no such scenario file is left beside it (a renamed or deleted scenario): syrupy reports
    it, and ``--snapshot-update`` deletes it. The golden of a scenario that failed, was
    skipped or deselected is never offered to syrupy as unused, so it is kept.
    """

    file_extension = GOLDEN_SUFFIX[1:]
    _file_extension = GOLDEN_SUFFIX[1:]  # syrupy 4.x

    @classmethod
    def get_location(cls, *, test_location: PyTestLocation, index: Any = 0) -> str:
        return str(golden_path(Path(test_location.filepath)))

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(Path(test_location.filepath).parent)

    @classmethod
    def discovery_dirname(cls, *, test_location: PyTestLocation) -> str:
        # syrupy 7's single-file default scans the parent when the directory is named like the test
        return cls.dirname(test_location=test_location)

    @classmethod
    def matches_test_location(cls, *, test_location: PyTestLocation, snapshot_location: str) -> bool:
        # syrupy 7 asks the extension (for any test it ran): only the scenario file owns its golden
        return Path(snapshot_location) == golden_path(Path(test_location.filepath))

    def discover_snapshots(
        self, *, test_location: PyTestLocation, ignore_extensions: list[str] | None = None
    ) -> SnapshotCollections:
        discovered = SnapshotCollections()
        directory = Path(self.dirname(test_location=test_location))
        for golden in sorted(directory.glob(f"dryrun_*{GOLDEN_SUFFIX}")):
            if ignore_extensions and golden.suffix[1:] in ignore_extensions:
                continue  # --snapshot-ignore-file-extensions json
            name = golden.name[: -len(GOLDEN_SUFFIX)]
            owners = (golden.with_name(name + suffix) for suffix in SCENARIO_SUFFIXES)
            if any(is_scenario_file(owner) and owner.is_file() for owner in owners):
                continue  # its scenario file is there: used, or kept when it did not run
            collection = SnapshotCollection(location=str(golden))
            collection.add(Snapshot(name=name))
            discovered.add(collection)
        return discovered


class _ScenarioLocation(PyTestLocation):
    """syrupy's test location of a scenario item, related to its ``.golden.json``.

    syrupy relates a snapshot file to a test by file stem (``test_x`` owns ``test_x.ambr``);
    ``dryrun_x.golden.json`` has the stem ``dryrun_x.golden``, so without this syrupy warns
    that it "can not relate snapshot location" on every write.
    """

    def matches_snapshot_location(self, snapshot_location: str) -> bool:
        # syrupy 4.x and 6.x ask the location itself when they write
        return Path(snapshot_location) == golden_path(Path(self.filepath))


class _ItemName:
    """Stands in for a test function: syrupy names a test by ``obj.__module__``/``__name__``."""

    def __init__(self, module: str, name: str) -> None:
        self.__module__ = module
        self.__name__ = name


class _SyrupyView:
    """A scenario item as syrupy reads a test item: the item itself, plus ``obj``.

    A scenario file has no Python function; rather than give the real pytest item an
    ``obj`` other plugins would take for one, syrupy gets this view (everything else,
    ``nodeid``, ``path``, ``stash``, ... comes from the item).
    """

    def __init__(self, item: Any) -> None:
        self._item = item
        self.obj = _ItemName(item.path.stem, item.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._item, name)


def scenario_location(item: Any) -> PyTestLocation:
    """syrupy's location of a scenario-file item (a ``pytest.Item`` without a function)."""
    view: Any = _SyrupyView(item)  # duck-typed as the pytest.Item syrupy expects
    return _ScenarioLocation(view)
