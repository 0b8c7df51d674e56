"""Every hook is documented (issue 14 item 4).

Our hook *implementations* in ``plugin.py`` say when pytest calls them and why they exist; our
hook *specifications* (``hookspecs.py``) each carry an example marked
``@pytest.hookimpl(optionalhook=True)`` (``test_hooks.py`` runs those examples with the
plugin disabled). The README's typed event example runs and prints what it says.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from pytest_peak_dryrun import hookspecs, plugin

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def hook_implementations() -> dict[str, object]:
    """Every ``pytest_*`` function of plugin.py, and every ``pytest_*`` method of its hook classes."""
    found: dict[str, object] = {}
    for name, obj in vars(plugin).items():
        if name.startswith("pytest_") and inspect.isfunction(obj):
            found[name] = obj
        elif inspect.isclass(obj) and obj.__module__ == plugin.__name__:
            found.update(
                {f"{name}.{attr}": fn for attr, fn in vars(obj).items() if attr.startswith("pytest_") and callable(fn)}
            )
    return found


def test_the_hook_implementations_are_all_found() -> None:
    found = {name.rsplit(".", 1)[-1] for name in hook_implementations()}
    assert found >= {
        "pytest_addoption",
        "pytest_addhooks",
        "pytest_configure",
        "pytest_ignore_collect",
        "pytest_collect_file",
        "pytest_dryrun_make_broker",
        "pytest_runtest_setup",
        "pytest_runtest_teardown",
        "pytest_sessionstart",
        "pytest_sessionfinish",
        "pytest_terminal_summary",
        "pytest_json_runtest_metadata",
        "pytest_json_modifyreport",
        "pytest_testnodedown",
    }


@pytest.mark.parametrize("name", sorted(hook_implementations()))
def test_every_hook_implementation_says_when_and_why(name: str) -> None:
    doc = inspect.getdoc(hook_implementations()[name]) or ""
    # a summary line and at least one more sentence: when it runs, or why it is there
    assert len(doc.split("\n\n")) >= 2, f"{name}: {doc!r}"
    assert len(doc) >= 120, f"{name}: {doc!r}"


def test_hookspecs_all_is_every_hook_we_declare() -> None:
    declared = sorted(name for name, obj in vars(hookspecs).items() if name.startswith("pytest_dryrun_"))
    assert sorted(hookspecs.__all__) == declared
    assert len(declared) == 6


@pytest.mark.parametrize("name", hookspecs.__all__)
def test_every_hookspec_has_an_optional_example(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    example = doc[doc.index("Example::") :]
    assert re.search(rf"@pytest\.hookimpl\(optionalhook=True\)\n\s*def {name}\(", example), example


def _readme_block_with(text: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [block for block in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if text in block]
    assert len(blocks) == 1, text
    return blocks[0]


def test_the_readme_typed_event_example_prints_the_trip(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(_readme_block_with("case RailTripEvent("))
    pytester.makepyfile(
        test_t="""
        import pytest

        @pytest.mark.dryrun("tripwire")
        def test_trip(dryrun):
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["test_t.py test_t-test_trip-d153f10e7e9e: rail max_order_qty tripped: quantity 500 above limit 50"]
    )
    disabled = pytester.runpytest_subprocess("-p", "no:peak_dryrun", "-k", "test_plain")
    assert "INTERNALERROR" not in disabled.stdout.str() + disabled.stderr.str()
    disabled.assert_outcomes(passed=1, deselected=1)


def test_the_readme_audit_example_verifies_the_chain(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_audit=_readme_block_with("verify_audit_lines(list(audit_log.lines()))"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
