"""The public API is exactly ``__all__``, and importing the package stays cheap.

Also: every name that crosses a module boundary inside the package is in its module's
``__all__``, and nothing a user reads (README, fixture and hook docstrings, ``examples/``)
shows a name that is not public (issue 14 item 4).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import pytest_peak_dryrun

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pytest_peak_dryrun"
#: Where a user may import from: the package, and the documented subpackage.
#: The package's __all__, the contract suite, and the hypothesis strategies (optional: only that module
#: imports hypothesis, so it cannot be re-exported from the package).
PUBLIC_MODULES = ("pytest_peak_dryrun", "pytest_peak_dryrun.contract", "pytest_peak_dryrun.strategies")


def test_every_public_name_resolves() -> None:
    for name in pytest_peak_dryrun.__all__:
        assert getattr(pytest_peak_dryrun, name) is not None, name
    assert sorted(dir(pytest_peak_dryrun)) == sorted(pytest_peak_dryrun.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        pytest_peak_dryrun.Nope  # noqa: B018


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, pytest_peak_dryrun\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'prometheus_client', 'syrupy', 'pytest')"
        " or m.startswith('pytest_peak_dryrun.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_live_error_is_public_and_a_runtime_error() -> None:
    assert issubclass(pytest_peak_dryrun.NoLiveError, RuntimeError)


def test_the_broker_kit_is_public() -> None:
    from pytest_peak_dryrun.contract import BrokerContract
    from pytest_peak_dryrun.core import adapter, boundary, errors, model, scenario

    api = pytest_peak_dryrun
    assert api.BrokerContract is BrokerContract
    assert api.BrokerAdapter is adapter.BrokerAdapter
    assert api.check_broker is boundary.check_broker
    assert (api.Order, api.Fill, api.OrderRequest) == (model.Order, model.Fill, model.OrderRequest)
    assert (api.PlaceIntent, api.CancelIntent) == (scenario.PlaceIntent, scenario.CancelIntent)
    family = [name for name in errors.__all__ if name.endswith("Error")]
    assert [getattr(api, name) for name in family] == [getattr(errors, name) for name in family]
    assert issubclass(api.BrokerContractError, TypeError)
    assert not issubclass(api.BrokerContractError, api.BrokerError)


def test_names_load_their_modules_only_when_used() -> None:
    """The adapter kit needs no pytest; the contract suite does, and loads it only when asked for."""
    code = (
        "import sys, pytest_peak_dryrun\n"
        "pytest_peak_dryrun.BrokerAdapter, pytest_peak_dryrun.BrokerContractError, pytest_peak_dryrun.Order\n"
        "print('pytest' in sys.modules, 'pytest_peak_dryrun.contract.broker_contract' in sys.modules)\n"
        "pytest_peak_dryrun.BrokerContract\n"
        "print('pytest' in sys.modules, 'pytest_peak_dryrun.contract.broker_contract' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True", "True"]


def _imports_of_ours(code: str) -> Iterator[tuple[str, str | None]]:
    """``(module, name)`` for every import of ours in ``code`` (``name`` None for ``import m``)."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pytest_peak_dryrun"):
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pytest_peak_dryrun"):
                    yield alias.name, None


def _private_imports(code: str) -> list[str]:
    """Imports of ``code`` that reach past the public API."""
    bad = []
    for module, name in _imports_of_ours(code):
        if module not in PUBLIC_MODULES:
            bad.append(module if name is None else f"{module}.{name}")
        elif name is not None and name not in importlib.import_module(module).__all__:
            bad.append(f"{module}.{name} (not in its __all__)")
    return bad


def test_examples_import_nothing_from_private_modules() -> None:
    found = {path.name: _private_imports(path.read_text("utf-8")) for path in sorted((REPO / "examples").glob("*.py"))}
    assert {name: bad for name, bad in found.items() if bad} == {}
    assert any(list(_imports_of_ours(path.read_text("utf-8"))) for path in (REPO / "examples").glob("*.py"))


def test_a_private_import_is_caught() -> None:
    """The checks above can fail: these are the imports the issue found in examples/."""
    assert _private_imports("from pytest_peak_dryrun.core.model import Order\nimport pytest_peak_dryrun.core") == [
        "pytest_peak_dryrun.core.model.Order",
        "pytest_peak_dryrun.core",
    ]
    assert _private_imports("from pytest_peak_dryrun import StepActivity") == [
        "pytest_peak_dryrun.StepActivity (not in its __all__)"
    ]
    assert (
        _private_imports("from pytest_peak_dryrun import Order\nfrom pytest_peak_dryrun.contract import BrokerContract")
        == []
    )


# -- the lazy table -----------------------------------------------------------------------------


def test_all_the_lazy_table_and_the_typing_imports_agree() -> None:
    """``__all__``, ``_WHERE`` and the ``TYPE_CHECKING`` imports (what mypy sees) list one set of names."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text("utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                assert stmt.level == 1
                assert stmt.module
                typed.update({alias.name: stmt.module for alias in stmt.names})
    where = pytest_peak_dryrun._WHERE
    assert sorted(where) == sorted(pytest_peak_dryrun.__all__) == sorted(typed)
    assert where == typed
    assert len(set(pytest_peak_dryrun.__all__)) == len(pytest_peak_dryrun.__all__)


def test_what_a_hook_author_and_a_fixture_user_need_is_public() -> None:
    """The types the fixtures hand out and the hooks receive can be imported and annotated."""
    from pytest_peak_dryrun.core import audit, events, metrics, snapshots, stream

    api = pytest_peak_dryrun
    assert (api.AuditLog, api.verify_audit_lines) == (audit.AuditLog, audit.verify_audit_lines)
    assert (api.MetricsCollector, api.UnknownMetricError) == (metrics.MetricsCollector, metrics.UnknownMetricError)
    assert (api.HealthSnapshot, api.StatusSnapshot, api.MetricsSnapshot) == (
        snapshots.HealthSnapshot,
        snapshots.StatusSnapshot,
        snapshots.MetricsSnapshot,
    )
    assert (api.EventRecord, api.EventKind, api.EventLog) == (events.EventRecord, events.EventKind, stream.EventLog)
    kinds = {cls.__name__ for cls in events.EVENT_TYPES}
    assert kinds <= set(api.__all__), kinds - set(api.__all__)
    assert all(getattr(api, name) is getattr(events, name) for name in kinds)
    assert issubclass(api.UnknownMetricError, KeyError)


# -- every module's __all__ -----------------------------------------------------------------------


def _package_modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _package_modules()


def test_every_all_names_only_what_its_module_has() -> None:
    missing = []
    for info in pkgutil.walk_packages(pytest_peak_dryrun.__path__, "pytest_peak_dryrun."):
        if info.name in ("pytest_peak_dryrun.__main__",):
            continue
        module = importlib.import_module(info.name)
        missing += [f"{info.name}.{name}" for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
    assert missing == []


def _module_all(module: str) -> set[str] | None:
    for node in ast.parse(MODULES[module].read_text("utf-8")).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "__all__":
            value = ast.literal_eval(node.value)  # type: ignore[attr-defined]
            return set(value)
    return None


def cross_module_names(path: Path, *, module: str | None) -> Iterator[tuple[str, str]]:
    """``(module, name)`` for each name ``path`` takes from another module of the package.

    ``from .x import name`` (relative imports resolved against ``module``), absolute imports,
    and ``x.name`` where ``x`` is a module of the package bound by an import.
    """
    tree = ast.parse(path.read_text("utf-8"))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    continue
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source not in MODULES:
                continue
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:  # a submodule
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
                else:
                    yield source, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            source = aliases[node.value.id]
            if f"{source}.{node.attr}" not in MODULES and not node.attr.startswith("__"):
                yield source, node.attr


def test_names_that_cross_modules_are_in_their_modules_all() -> None:
    """A name another module (or a test, benchmark, example) imports is in its module's ``__all__``.

    A test may reach a private (``_underscored``) name of the module it tests; nothing else
    may, and a module without ``__all__`` exports nothing.
    """
    files = [(module, path) for module, path in MODULES.items()]
    for folder in ("tests", "benchmarks", "examples"):
        files += [(None, path) for path in sorted((REPO / folder).rglob("*.py"))]
    stray = set()
    for module, path in files:
        in_tests = path.is_relative_to(REPO / "tests")
        for source, name in cross_module_names(path, module=module):
            if in_tests and name.startswith("_"):
                continue
            if name not in (_module_all(source) or ()):
                stray.add(f"{source}.{name} <- {path.relative_to(REPO)}")
    assert sorted(stray) == []


def test_a_name_missing_from_all_is_caught(tmp_path: Path) -> None:
    """The check above sees relative, absolute and attribute imports (it can fail)."""
    path = tmp_path / "snippet.py"
    path.write_text(
        "from .snapshots import StepActivity\n"
        "from pytest_peak_dryrun.core.writer import write_session\n"
        "from pytest_peak_dryrun.core import metrics\n"
        "metrics.UnknownMetricError\n",
        encoding="utf-8",
    )
    found = sorted(cross_module_names(path, module="pytest_peak_dryrun.core.dryrun"))
    assert found == [
        ("pytest_peak_dryrun.core.metrics", "UnknownMetricError"),
        ("pytest_peak_dryrun.core.snapshots", "StepActivity"),
        ("pytest_peak_dryrun.core.writer", "write_session"),
    ]


# -- what users read: README, docstrings ----------------------------------------------------------

#: Names a snippet may use without the package providing them: the reader's own code (the
#: adapter, vault and venue a snippet stands in for, variables of the surrounding text),
#: the standard library and pytest, and fixtures used as values.
NOT_OURS = frozenset(
    {
        *("MyAdapter", "MyVenue", "read_vault", "HouseAdapter", "HouseBroker", "on_fault", "request", "scenario"),
        *("Throttled", "NoSuchOrder"),  # the house venue's exceptions (examples/house_broker.py)
        *("pytest", "socket", "Protocol", "Sequence"),
        *("dryrun", "dryrun_snapshot"),
        "flat_at_stop",  # the README defines it in one block and uses it in the next
    }
)


def free_names(code: str) -> set[str]:
    """Names ``code`` uses without binding them (imports, assignments, defs, arguments)."""
    bound = set(dir(builtins))
    used = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
    return used - bound


def readme_snippets() -> dict[str, str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    return {f"README.md python block {i + 1}": block for i, block in enumerate(blocks)}


def _literal_blocks(doc: str) -> Iterator[str]:
    """The reST literal blocks (``::`` then an indented block) of a docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    i = 0
    while i < len(lines):
        if lines[i].rstrip().endswith("::"):
            indent = len(lines[i]) - len(lines[i].lstrip())
            block, i = [], i + 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            yield textwrap.dedent("\n".join(block))
        else:
            i += 1


def docstring_snippets() -> dict[str, str]:
    """Every example in the fixtures' and hooks' docstrings and in the public names' own."""
    from pytest_peak_dryrun import contract, hookspecs, plugin

    docs: dict[str, str] = {"pytest_peak_dryrun.contract": contract.__doc__ or ""}
    for module in (plugin, hookspecs):
        for name, obj in vars(module).items():
            doc = getattr(obj, "__doc__", None)
            if getattr(obj, "__module__", None) == module.__name__ and callable(obj) and doc:
                docs[f"{module.__name__}.{name}"] = doc
    for name in pytest_peak_dryrun.__all__:
        obj = getattr(pytest_peak_dryrun, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            docs[f"pytest_peak_dryrun.{name}"] = obj.__doc__ or ""
    return {
        f"{where} example {i + 1}": block for where, doc in docs.items() for i, block in enumerate(_literal_blocks(doc))
    }


def _not_public(code: str) -> list[str]:
    public = set(pytest_peak_dryrun.__all__)
    return sorted(_private_imports(code) + [name for name in free_names(code) - NOT_OURS if name not in public])


@pytest.mark.parametrize(
    ("where", "code"),
    [*readme_snippets().items(), *docstring_snippets().items()],
    ids=[*readme_snippets(), *docstring_snippets()],
)
def test_what_users_read_uses_only_the_public_api(where: str, code: str) -> None:
    """Each README block and docstring example imports only public names, and every name it
    uses without importing is public (or the reader's own: :data:`NOT_OURS`)."""
    assert _not_public(code) == [], where


def test_snippets_were_found_and_a_private_name_is_caught() -> None:
    assert len(readme_snippets()) >= 10
    where = docstring_snippets()
    assert any(key.startswith("pytest_peak_dryrun.plugin.audit_log") for key in where)
    assert any(key.startswith("pytest_peak_dryrun.hookspecs.pytest_dryrun_event") for key in where)
    assert _not_public("def test_x(dryrun):\n    assert StepActivity(dryrun) == render_markdown(1)\n") == [
        "StepActivity",
        "render_markdown",
    ]


def test_the_readme_names_no_private_module() -> None:
    """Prose too: no ``pytest_peak_dryrun.core...`` path, except the pytest11 entry point,
    ``python -m`` commands (which run a module, they do not import from it) and the Public API
    section, which names the private modules to say that they are."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Public API\n")
    readme = readme[:start] + readme[readme.index("\n## ", start + 1) :]
    allowed = {*PUBLIC_MODULES, "pytest_peak_dryrun.plugin", "pytest_peak_dryrun.__all__"}
    allowed.add("pytest_peak_dryrun.strategies.scenarios")
    allowed |= {f"pytest_peak_dryrun.{name}" for name in pytest_peak_dryrun.__all__}
    shown = {match.group(1) for match in re.finditer(r"(?<!-m )\b(pytest_peak_dryrun(?:\.\w+)+)", readme)}
    assert sorted(shown - allowed) == []


def test_the_readme_lists_every_public_name() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Public API\n") :]
    section = section[: section.index("\n## ", 1)]
    listed = set(re.findall(r"`(\w+)`", section))
    assert sorted(set(pytest_peak_dryrun.__all__) - listed) == []


def test_every_public_class_and_function_has_a_readable_signature() -> None:
    # IDEs, help() and Sphinx read it; a class attribute named __wrapped__ once broke FaultInjector's.
    import inspect

    import pytest_peak_dryrun

    unreadable = []
    for name in pytest_peak_dryrun.__all__:
        obj = getattr(pytest_peak_dryrun, name)
        if not callable(obj) or (isinstance(obj, type) and issubclass(obj, BaseException)):
            continue
        try:
            inspect.signature(obj)
        except ValueError as exc:  # a builtin without a signature raises this too: none is public
            unreadable.append(f"{name}: {exc}")
    assert unreadable == []
