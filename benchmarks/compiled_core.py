"""What compiling the hot core with mypyc would buy: pure Python vs compiled, same rounds.

The package ships pure Python, and issue 13's peers targets (>= 10x faster than backtrader,
>= 20x faster than nautilus_trader) are missed by it. Compiling the core is the one lever left
that keeps every promise (the same events, files and hashes) but changes how the package is
built and shipped (a C compiler or per-platform wheels; no interpreted subclass of a compiled
class; compiled frames are not traced by coverage or debuggers), so it is the team's to decide.
This script prices it, and changes nothing in the package:

1. copies ``pytest_peak_dryrun/`` to a temporary directory;
2. makes the copy compilable, mechanically and in the copy only: the pydantic models and the
   ``Protocol`` classes of each compiled module move to a sibling module that stays
   interpreted (mypyc compiles neither: a pydantic field default is a ``FieldInfo``, a
   runtime-checkable protocol must stay a Python class), exception classes stay Python classes
   (``mypyc_attr(native_class=False)``), public classes admit interpreted subclasses (a
   user's own ``MockBroker`` subclass), and a ``name = __call__`` alias becomes a method;
3. compiles :data:`COMPILED` with ``mypyc`` (mypy's compiler: ``pip install -e '.[test]'``
   has it; a C compiler is needed);
4. runs ``peers.py N 1`` and ``throughput.py --rounds 1`` in child processes, alternating the
   pure package and the compiled copy, R rounds, and prints each child's ratios (each ratio is
   measured inside one child, same round) and their medians.

    python benchmarks/compiled_core.py            # N = 10,000, 3 rounds
    python benchmarks/compiled_core.py 10000 5    # chosen N and rounds
    python benchmarks/compiled_core.py --keep     # also print where the compiled copy is (not deleted)
    python benchmarks/compiled_core.py --tests    # also run the test suite against the compiled copy

The peers (``pip install -e '.[peers]'``) are needed for the peers figures; without them only
the throughput figures are printed.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import load_average

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pytest_peak_dryrun"
#: the modules an order passes through on the hot path, compiled together
COMPILED = [
    "core/audit.py",
    "core/book.py",
    "core/broker.py",
    "core/clock.py",
    "core/metrics.py",
    "core/orchestrator.py",
    "core/orders.py",
    "core/rails.py",
    "core/reconcile.py",
    "core/stream.py",
]
_EXCEPTION_BASES = re.compile(r"(Error|Exception|Warning)$")


def _base_names(node: ast.ClassDef) -> set[str]:
    return {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}


def _make_compilable(path: Path) -> None:
    """Rewrite one module of the copy so mypyc can compile it (step 2 of the docstring)."""
    source = path.read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    # The classes that must stay interpreted, and the module's classes they name (their
    # field types, enums), so the sibling module needs nothing back from this one.
    moved = {c.name for c in classes if _base_names(c) & {"BaseModel", "Protocol"}}
    grew = True
    while grew:
        grew = False
        for c in classes:
            if c.name in moved:
                continue
            named_by_moved = any(
                isinstance(n, ast.Name) and n.id == c.name for m in classes if m.name in moved for n in ast.walk(m)
            )
            if _base_names(c) & moved or named_by_moved:
                moved.add(c.name)
                grew = True
    # the module's imports (TYPE_CHECKING blocks included: pydantic reads annotations)
    imports_end = max(
        (
            n.end_lineno or n.lineno
            for n in tree.body
            if isinstance(n, ast.Import | ast.ImportFrom)
            or (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
        ),
        default=0,
    )
    header = lines[:imports_end]
    out = list(lines)
    spans = []
    for c in classes:
        start = min([c.lineno] + [d.lineno for d in c.decorator_list])
        if c.name in moved:
            spans.append((start, c.end_lineno or c.lineno, c.name))
    if spans:
        sibling = f"_{path.stem}_interpreted"
        body = [line for start, end, _ in spans for line in ["", "", *lines[start - 1 : end]]]
        path.with_name(sibling + ".py").write_text("\n".join([*header, *body, ""]))
        first = spans[0][0]
        for start, end, _ in reversed(spans):
            del out[start - 1 : end]
        names = ", ".join(name for _, _, name in spans)
        out.insert(first - 1, f"from .{sibling} import {names}")
    # exception classes stay Python classes, public ones admit interpreted subclasses
    for c in sorted(classes, key=lambda c: -c.lineno):
        if c.name in moved:
            continue
        index = out.index(lines[c.lineno - 1])
        if any(_EXCEPTION_BASES.search(b) for b in _base_names(c)):
            out.insert(index, "@_mypyc_attr(native_class=False)")
        elif not c.name.startswith("_") and not _base_names(c) & {"Enum", "str", "int", "IntEnum"}:
            # users and their tests subclass public classes (a MockBroker of their own)
            out.insert(index, "@_mypyc_attr(allow_interpreted_subclasses=True)")
    text = "\n".join(out) + "\n"
    # ``append = __call__`` becomes a method of the same signature (the one alias in the
    # compiled modules; mypyc cannot alias a method of a native class)
    call = re.search(r"\n(\s+)def __call__\(self, ([^)]*)\) -> ([^:]+):", text)
    if call:
        indent, params, returns = call.groups()
        args = ", ".join(p.split(":")[0].strip() for p in params.split(","))
        text = re.sub(
            rf"\n{indent}(\w+) = __call__\n",
            lambda m: (
                f"\n{indent}def {m.group(1)}(self, {params}) -> {returns}:\n{indent}    return self.__call__({args})\n"
            ),
            text,
        )
    future = "from __future__ import annotations\n"
    extra = "from mypy_extensions import mypyc_attr as _mypyc_attr\n"
    if "from pydantic" in text or "import pydantic" in text:
        extra += "import pydantic.main\n"  # mypyc's generated module names it
    path.write_text(text.replace(future, future + extra, 1))


def build(into: Path) -> Path:
    """The compiled copy of the package under ``into``; raises with mypyc's output if it fails."""
    shutil.copytree(ROOT / PACKAGE, into / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    targets = [into / PACKAGE / module for module in COMPILED]
    for target in targets:
        _make_compilable(target)
    done = subprocess.run(
        [sys.executable, "-m", "mypyc", *(str(t.relative_to(into)) for t in targets)],
        cwd=into,
        capture_output=True,
        text=True,
        check=False,
    )
    built = sorted((into / PACKAGE / "core").glob("*.so"))
    if done.returncode != 0 or len(built) != len(COMPILED):
        errors = [line for line in (done.stdout + done.stderr).splitlines() if "error" in line.lower()]
        raise SystemExit("mypyc failed:\n" + "\n".join(errors[-20:]))
    return into


def _run(argv: list[str], package_root: Path) -> subprocess.CompletedProcess[str]:
    """``argv`` from the repository root with ``package_root``'s package first on sys.path."""
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def child(script: str, args: list[str], package_root: Path) -> str:
    done = _run([sys.executable, str(ROOT / "benchmarks" / script), *args], package_root)
    if done.returncode != 0:
        raise SystemExit(f"{script} failed under {package_root}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def peers_figures(out: str) -> dict[str, float]:
    """``ours`` us/order and ``backtrader``/``nautilus_trader`` "we are Nx faster" of one child."""
    figures: dict[str, float] = {}
    medians = out.split("medians of", 1)[-1]
    for line in medians.splitlines():
        if m := re.match(r"\s+pytest-peak-dryrun\s+([\d.,]+) us/order", line):
            figures["ours us/order"] = float(m.group(1).replace(",", ""))
        elif m := re.match(r"\s+(backtrader|nautilus_trader)\b.*we are ([\d.]+)x faster", line):
            figures[f"vs {m.group(1)}"] = float(m.group(2))
    return figures


def throughput_figures(out: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    if m := re.search(r"E2E\s+([\d.]+) us/order", out.split("medians of", 1)[-1]):
        figures["E2E us/order"] = float(m.group(1))
    if m := re.search(r"E2E / floor = ([\d.]+)x", out):
        figures["E2E / floor"] = float(m.group(1))
    return figures


def suite(compiled: Path) -> None:
    """The project's test suite against the compiled copy: its summary and what failed."""
    # pytest's own script, not ``python -m pytest``: ``-m`` puts the working directory (the
    # repository, with the pure package) first on sys.path, ahead of PYTHONPATH
    pytest = Path(sys.executable).with_name("pytest")
    done = _run([str(pytest), "-q", "-p", "no:cacheprovider", "-n", "2", "tests", "examples"], compiled)
    lines = done.stdout.splitlines()
    print("the test suite against the compiled copy:")
    for line in lines:
        if line.startswith("FAILED "):
            print(f"  {line[:160]}")
    print(f"  {lines[-1] if lines else done.stderr[-500:]}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000, help="orders per run (default 10,000)")
    parser.add_argument("rounds", nargs="?", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the compiled copy and say where it is")
    parser.add_argument("--tests", action="store_true", help="also run the test suite against the compiled copy")
    args = parser.parse_args(argv)
    n, rounds = args.n, args.rounds
    has_peers = importlib.util.find_spec("backtrader") is not None
    tmp = Path(tempfile.mkdtemp(prefix="peak-dryrun-mypyc-"))
    try:
        print(f"compiling {len(COMPILED)} modules with mypyc into {tmp} ...", flush=True)
        compiled = build(tmp)
        if args.tests:
            suite(compiled)
        builds = {"pure": ROOT, "compiled": compiled}
        print(
            f"N = {n:,}; {rounds} rounds, pure and compiled alternating, each figure from one child process"
            f" (ratios inside a child are same-round); load {load_average():.2f} at the start",
            flush=True,
        )
        table: dict[str, dict[str, list[float]]] = {name: {} for name in builds}
        for r in range(1, rounds + 1):
            for name, root in builds.items():
                figures = throughput_figures(child("throughput.py", ["--rounds", "1", "--e2e", str(2 * n)], root))
                if has_peers:
                    figures |= peers_figures(child("peers.py", [str(n), "1"], root))
                for key, value in figures.items():
                    table[name].setdefault(key, []).append(value)
                shown = "  ".join(f"{k} {v:.2f}" for k, v in figures.items())
                print(f"  round {r}  {name:<8}  {shown}  load {load_average():.2f}", flush=True)
        print(f"medians of {rounds} rounds:")
        for key in table["pure"]:
            pure = statistics.median(table["pure"][key])
            comp = statistics.median(table["compiled"].get(key, [float("nan")]))
            print(f"  {key:<24} pure {pure:9.2f}   compiled {comp:9.2f}   compiled/pure {comp / pure:.2f}")
        if args.keep:
            print(f"the compiled copy is kept in {tmp} (PYTHONPATH={tmp} to use it)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
