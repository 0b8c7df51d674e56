"""The public API is exactly ``__all__``, and importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

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
