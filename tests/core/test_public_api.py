"""The public API is exactly ``__all__``, and importing the package stays cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_peak_dryrun


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


def test_examples_import_nothing_from_private_modules() -> None:
    examples = Path(__file__).parents[2] / "examples"
    imported: dict[str, list[str]] = {}
    for path in sorted(examples.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.setdefault(node.module, []).append(path.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    imported.setdefault(alias.name, []).append(path.name)
    ours = sorted(name for name in imported if name.startswith("pytest_peak_dryrun"))
    # the package's __all__, and the optional strategies module (it alone imports hypothesis)
    assert set(ours) <= {"pytest_peak_dryrun", "pytest_peak_dryrun.strategies"}, {n: imported[n] for n in ours}
    assert "pytest_peak_dryrun" in ours
