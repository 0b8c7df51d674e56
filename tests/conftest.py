"""Suite-wide settings for the plugin's own tests.

Inner pytest runs (``pytester``) size their terminal from ``COLUMNS`` (or the tty), and the
short test summary appends as much of each failure message as fits. Without a fixed width an
assertion on that output passes in one terminal and fails in another (CI's differs from a
developer's), so every test here sees the same 80 columns.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fixed_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("LINES", raising=False)
