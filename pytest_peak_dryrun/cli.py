"""``peak-dryrun``: the read-only operator side of a snapshot directory.

Watch-only: no subcommand writes under the snapshot directory, places an order or changes
any state. Heavy modules (pydantic, jsonschema, http.server) load inside the subcommand
that needs them, so ``peak-dryrun --help`` stays fast; pytest is never imported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

__all__ = ["main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

_DESCRIPTION = """\
Read-only operator tools for a pytest-peak-dryrun snapshot directory (the DIR written
with --dryrun-snapshot DIR). Nothing here writes under DIR, places orders or changes state.
"""

_REPORT_EPILOG = """\
exit status:
  0  every run is healthy enough: no run has health "failed", no run ended in
     ERROR_REQUIRES_OPERATOR or PREFLIGHT_FAILED, and the session is complete.
     Runs with health "degraded" (mismatches, orders left open, ...) still exit 0;
     they are shown with their reasons.
  1  a run failed or needs the operator, or the session is incomplete
  2  usage error: DIR missing, not a snapshot directory (no index.json), or a file
     that cannot be read or is not a valid snapshot document
"""

_VALIDATE_EPILOG = """\
checks: every JSON document and JSON Lines line against the JSON Schemas shipped in
the package; every sha256 in index.json, and every file anywhere under DIR that the
index does not list (links and leftovers too); the audit hash chain of each run and
events.jsonl against it, streamed line by line; each report.json against the report
rebuilt from the run's documents and the chain's head; order conservation; every
counter against the count recomputed from events.jsonl; the session roll-ups and the
index against the run files.

PEAK_DRYRUN_AUDIT_KEY (environment): the HMAC-SHA256 key the runs were written with.
With it every audit line's HMAC and the index seal must verify; a directory written
with a key cannot be verified without it (a finding). Never pass a key as an argument.

exit status:
  0  every check holds (notes, such as a report changed by a hook, are printed)
  1  findings (one "path: problem" or "path:line: problem" line each)
  2  usage error: DIR missing, not a snapshot directory, or index.json unreadable
"""

_SERVE_EPILOG = """\
routes (GET and HEAD; any other method is 405, any other path 404):
  /health   dryrun_health_snapshot.json (application/json): 200 when the session is
            ok or degraded, 503 when it failed or is incomplete (a probe's answer)
  /status   dryrun_status_snapshot.json (application/json)
  /metrics  dryrun_metrics.prom (text/plain; version=0.0.4)
Files are read at request time; nothing polls or watches them. 4 worker threads
serve the connections; a connection silent for 5 s is closed. Stop with Ctrl-C.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peak-dryrun", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    report = sub.add_parser(
        "report",
        help="print the status of every run (exit 1 if one failed or needs the operator)",
        description="Print a read-only status report of the runs in DIR.",
        epilog=_REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("dir", metavar="DIR", type=Path, help="snapshot directory (holds index.json)")
    report.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="output format (default: text; json is canonical JSON)",
    )

    validate = sub.add_parser(
        "validate",
        help="check schemas, hashes, the audit chain and invariants of DIR",
        description="Check that the snapshot directory DIR is complete, untouched and consistent.",
        epilog=_VALIDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("dir", metavar="DIR", type=Path, help="snapshot directory (holds index.json)")

    serve = sub.add_parser(
        "serve",
        help="serve /health, /status and /metrics of DIR over HTTP (read-only)",
        description="Serve the snapshot files of DIR on a read-only HTTP status endpoint.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("dir", metavar="DIR", type=Path, help="snapshot directory (holds index.json)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default: 8000; 0 picks a free one)")
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the endpoint has no authentication)",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    return parser


def _usage_error(command: str, message: str) -> int:
    _print(f"peak-dryrun {command}: error: {message}", sys.stderr)
    return EXIT_USAGE


def _report(args: argparse.Namespace) -> int:
    from .console.status_report import load_report
    from .report.load import SnapshotError

    try:
        report = load_report(args.dir)
    except SnapshotError as exc:
        return _usage_error("report", str(exc))
    if args.format == "json":
        from .core.canonical import dumps
        from .core.documents import json_data

        text = dumps(json_data(report))
    elif args.format == "markdown":
        from .report.markdown import render_operator_markdown

        text = render_operator_markdown(report, str(args.dir))
    else:
        from .report.text import render_text_report

        text = render_text_report(report, str(args.dir))
    sys.stdout.write(text)
    return EXIT_OK if report.healthy else EXIT_PROBLEMS


def _print(text: str, stream: TextIO) -> None:
    """One line, with anything the stream cannot encode escaped instead of raising."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding), file=stream)


def _validate(args: argparse.Namespace) -> int:
    from .console.validate import iter_lines, validate_dir
    from .core.audit_chain import audit_key_from_env
    from .report.load import SnapshotError

    try:
        found = validate_dir(args.dir, key=audit_key_from_env())
    except SnapshotError as exc:
        return _usage_error("validate", str(exc))
    for line in iter_lines(found, str(args.dir)):
        _print(line, sys.stdout)
    problems = [p for p in found if not p.note]
    if problems:
        _print(f"{len(problems)} problem(s) in {args.dir}", sys.stderr)
        return EXIT_PROBLEMS
    notes = len(found) - len(problems)
    _print(f"{args.dir}: ok" + (f" ({notes} note(s) above)" if notes else ""), sys.stdout)
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from .console.serve import RemoteBindError, make_server
    from .console.status_report import check_snapshot_dir
    from .report.load import SnapshotError

    try:
        check_snapshot_dir(args.dir)
    except SnapshotError as exc:
        return _usage_error("serve", str(exc))
    if not 0 <= args.port <= 65535:
        return _usage_error("serve", f"--port {args.port}: not a port number (0-65535)")
    try:
        server = make_server(args.dir, args.host, args.port, allow_remote=args.allow_remote, quiet=args.quiet)
    except RemoteBindError as exc:
        return _usage_error("serve", str(exc))
    except OSError as exc:
        return _usage_error("serve", f"cannot bind {args.host}:{args.port} ({exc.strerror or exc})")
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    print(
        f"peak-dryrun serve: {args.dir} on http://{shown}:{port} (read-only: /health /status /metrics); Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``peak-dryrun`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(None if argv is None else list(argv))
    command = {"report": _report, "validate": _validate, "serve": _serve}[args.command]
    try:
        return command(args)
    except BrokenPipeError:
        # ``peak-dryrun report DIR | head``: the reader left; that is not an error of ours.
        sys.stderr.close()
        return EXIT_OK
