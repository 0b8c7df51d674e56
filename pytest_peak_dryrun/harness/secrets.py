"""The secrets registry: which values the plugin masks in every event, document and file.

Four sources, all merged into one :class:`~pytest_peak_dryrun.core.redact.Redactor`:

* environment variables named in the ini option ``dryrun_secret_env``;
* the ``pytest_dryrun_secrets(config)`` hook (every implementation's values);
* the ``dryrun_secrets`` fixture (per test; see ``plugin.py``);
* by default, the values of environment variables whose names contain one of
  :data:`DEFAULT_SECRET_MARKERS` (``KEY``, ``SECRET``, ``TOKEN``, ``PASSWORD``).

Discovered values must be at least :data:`MIN_DISCOVERED_LENGTH` characters and contain a
letter: a machine's ``SOME_TOKEN=1`` must not mask every "1" in the report, or the same
run would write different files on a laptop and on CI. Explicitly registered values (ini,
hook, fixture) only need :data:`~pytest_peak_dryrun.core.redact.MIN_SECRET_LENGTH`; a shorter
one is not used and a warning names where it came from (never the value).

The session's redactor is built once, lazily (the hook is called after collection, when
every conftest is registered), in each process: an xdist worker builds the same one.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:
    from ..core.redact import Redactor

__all__ = [
    "DEFAULT_SECRET_MARKERS",
    "MIN_DISCOVERED_LENGTH",
    "SECRET_ENV_INI",
    "SecretsError",
    "discover_env_secrets",
    "redactor_for",
    "registry_problem",
    "session_redactor",
]

SECRET_ENV_INI: Final = "dryrun_secret_env"
#: An environment variable whose name contains one of these holds a secret by default.
DEFAULT_SECRET_MARKERS: Final = ("KEY", "SECRET", "TOKEN", "PASSWORD")
#: Discovered values shorter than this are left alone (see the module docstring).
MIN_DISCOVERED_LENGTH: Final = 8
_LETTER: Final = re.compile(r"[^\W\d_]")


class SecretsError(TypeError):
    """A registration that is not a string; the message names its source, never a value."""


_SESSION_REDACTOR: Final = pytest.StashKey[tuple["Redactor", str]]()
_CACHE: Final = pytest.StashKey[dict[tuple[str, ...], "Redactor"]]()


def discover_env_secrets(environ: Mapping[str, str]) -> list[str]:
    """Values of variables named like secrets, long enough to mask without collateral damage."""
    found = []
    for name, value in environ.items():
        upper = name.upper()
        named_secret = any(marker in upper for marker in DEFAULT_SECRET_MARKERS)
        if named_secret and len(value) >= MIN_DISCOVERED_LENGTH and _LETTER.search(value):
            found.append(value)
    return found


def _explicit(values: Iterable[object], source: str) -> list[str]:
    """Registered values from ``source``: strings, each long enough to mask."""
    from ..core.redact import MIN_SECRET_LENGTH

    kept = []
    for value in values:
        if not isinstance(value, str):
            raise SecretsError(
                f"{source} gave a {type(value).__name__}; secrets are strings (the values to mask in every artifact)"
            )
        if len(value) < MIN_SECRET_LENGTH:
            warnings.warn(
                pytest.PytestConfigWarning(
                    f"pytest-peak-dryrun: {source} gave a value shorter than {MIN_SECRET_LENGTH} characters; "
                    "it is not masked (masking it would rewrite ordinary text in every artifact)"
                ),
                stacklevel=2,
            )
            continue
        kept.append(value)
    return kept


def _hook_values(config: pytest.Config) -> list[str]:
    values: list[str] = []
    for result in config.hook.pytest_dryrun_secrets(config=config):
        if result is None:
            continue
        items = (result,) if isinstance(result, str) else result
        try:
            iterator = iter(items)
        except TypeError:
            raise SecretsError(
                f"a pytest_dryrun_secrets implementation returned a {type(result).__name__}; "
                "return an iterable of strings"
            ) from None
        values.extend(_explicit(iterator, "a pytest_dryrun_secrets implementation"))
    return values


def _ini_values(config: pytest.Config, environ: Mapping[str, str]) -> list[str]:
    values: list[str] = []
    for name in config.getini(SECRET_ENV_INI):
        value = environ.get(str(name))
        if value:  # an unset variable has nothing to leak
            values.extend(_explicit((value,), f"ini {SECRET_ENV_INI}: environment variable {name}"))
    return values


def session_redactor(config: pytest.Config) -> Redactor:
    """The session's redactor: ini, hook and environment secrets (built once per process).

    Never raises: a hook that returned something other than strings is remembered
    (:func:`registry_problem`) and its values are left out, so the values of every other
    source are still masked.
    """
    built = config.stash.get(_SESSION_REDACTOR, None)
    if built is None:
        from ..core.redact import Redactor

        environ = os.environ
        values = [*_ini_values(config, environ), *discover_env_secrets(environ)]
        problem = ""
        try:
            values.extend(_hook_values(config))
        except SecretsError as exc:
            problem = str(exc)
        built = config.stash[_SESSION_REDACTOR] = (Redactor(values), problem)
    return built[0]


def registry_problem(config: pytest.Config) -> str:
    """Why a registration was refused (``""`` when none was): the session records it."""
    session_redactor(config)
    return config.stash[_SESSION_REDACTOR][1]


def redactor_for(config: pytest.Config, extra: Iterable[object] = ()) -> Redactor:
    """The session's redactor plus ``extra`` values (a test's ``dryrun_secrets`` fixture).

    Called from a test's setup or call: a bad registration fails that test with one line.
    """
    __tracebackhide__ = True
    problem = registry_problem(config)
    if not problem:
        try:
            return _redactor_for(config, extra)
        except SecretsError as exc:
            problem = str(exc)  # failed outside the except block: no chained traceback
    pytest.fail(f"pytest-peak-dryrun secrets registry: {problem}", pytrace=False)


def _redactor_for(config: pytest.Config, extra: Iterable[object]) -> Redactor:
    base = session_redactor(config)
    if isinstance(extra, str):
        extra = (extra,)
    added = tuple(sorted(set(_explicit(extra, "the dryrun_secrets fixture")) - set(base.secrets)))
    if not added:
        return base
    cache = config.stash.setdefault(_CACHE, {})
    redactor = cache.get(added)
    if redactor is None:
        from ..core.redact import Redactor

        redactor = cache[added] = Redactor((*base.secrets, *added))
    return redactor
