"""The invariant oracle for a test item: the built-ins, the hook's invariants, the ini's skips.

One place decides what "checked by the oracle" means in the plugin, so a scenario file, the
``dryrun_invariants`` fixture and every run of the ``dryrun_fuzz`` fixture check the same
thing: :func:`~pytest_peak_dryrun.check_invariants` plus every ``pytest_dryrun_invariants``
hook visible to the item (``node.ihook``: a conftest's hook applies to its own directory),
minus the invariants the ini ``dryrun_skip_invariants`` names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import pytest

from ..core.dryrun import DryRunResult
from ..core.invariants import INVARIANTS, Invariant, Violation, check_invariants
from ..core.redact import Redactor

__all__ = ["SKIP_INI", "check_item", "describe_violations", "skipped_invariants", "validate_skip_ini"]

#: ini: names of built-in invariants the plugin's checks leave out.
SKIP_INI: Final = "dryrun_skip_invariants"


def validate_skip_ini(names: Sequence[str]) -> str | None:
    """The problem with the ini's names (an unknown one), or None."""
    unknown = [name for name in names if name not in INVARIANTS]
    if not unknown:
        return None
    return (
        f"ini {SKIP_INI}: no invariant named {', '.join(map(repr, unknown))}; "
        f"the built-in invariants are {', '.join(INVARIANTS)}"
    )


def skipped_invariants(config: pytest.Config) -> tuple[str, ...]:
    return tuple(str(name) for name in config.getini(SKIP_INI))


def check_item(
    node: pytest.Item, result: DryRunResult, *, extra: Iterable[Invariant] = (), skip: Iterable[str] = ()
) -> list[Violation]:
    """Every violation in ``result``: built-ins, ``extra``, and the hook's, for the test ``node``."""
    config = node.config
    hook = node.ihook.pytest_dryrun_invariants

    def from_hook(result: DryRunResult) -> list[Violation]:
        found: list[Violation] = []
        for produced in hook(config=config, result=result):  # pluggy leaves out the Nones
            items = [produced] if isinstance(produced, Violation) else produced
            if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
                items = [items]
            items = list(items)
            if not all(isinstance(item, Violation) for item in items):
                pytest.fail(
                    f"{node.nodeid}: a pytest_dryrun_invariants hook returned {produced!r}; return a list of "
                    "pytest_peak_dryrun.Violation (empty when every invariant holds) or None",
                    pytrace=False,
                )
            found.extend(items)
        return found

    invariants: list[Invariant] = [*extra]
    if hook.get_hookimpls():
        invariants.append(from_hook)
    return check_invariants(result, extra=invariants, skip=(*skipped_invariants(config), *skip))


def describe_violations(violations: Sequence[Violation], redactor: Redactor, *, indent: str = "  ") -> list[str]:
    """One line per violation, registered secrets masked (a message can quote a broker's id)."""
    return [f"{indent}- {redactor.redact_text(str(violation))}" for violation in violations]
