"""Inner pytest runs (pytester) must behave like standalone sessions.

When this suite itself runs under pytest-xdist, its workers export PYTEST_XDIST_* variables;
an inner run that inherits them believes it is an xdist worker (syrupy, for one, then keeps
its summary to itself). Remove them for every test here.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _standalone_inner_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PYTEST_XDIST_") or name == "PYTEST_ADDOPTS":
            monkeypatch.delenv(name)
