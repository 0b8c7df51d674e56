"""``python -m pytest_peak_dryrun``: the ``peak-dryrun`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
