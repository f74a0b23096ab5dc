"""``latent-studio``: the desktop studio, and a headless runner over the same executor.

Exit codes: 0 ok, 1 a node failed, 2 a bad workflow or bad input. User errors print a message,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from studio.core.types import DOWNLOAD_KINDS
from studio.logs import log_file, setup_logging

EXIT_OK, EXIT_NODE_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad input from the command line or a bad workflow: exit 2 with this message."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latent-studio", description="Node-graph studio for controllable "
                                "Stable Diffusion. Without a command, opens the desktop studio.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run a workflow (JSON, or a PNG that carries one) without the GUI")
    run.add_argument("flow", help="workflow .json, or a .png saved by the studio; ComfyUI and A1111 files "
                     "are imported on the fly")
    run.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                     help="override a parameter; NODE is a node id or a unique node title")
    run.add_argument("--repeat", type=int, default=1, metavar="N", help="run N times in one process")
    run.add_argument("--sweep", metavar="NODE.PARAM=V1,V2,...",
                     help="run once per value, in one process (only what the value changes re-runs)")
    run.add_argument("--json", action="store_true", help="print one JSON object per run")
    run.add_argument("--output-dir", metavar="DIR", help="where save nodes write (default: Preferences)")

    val = sub.add_parser("validate", help="check a workflow and list every problem")
    val.add_argument("flow")

    imp = sub.add_parser("import", help="convert a ComfyUI workflow (JSON, PNG or WebP) or A1111 PNG/JPEG/WebP/text "
                                        "into a Latent Studio workflow")
    imp.add_argument("source", help="ComfyUI UI or API .json, a PNG or WebP made by ComfyUI, a PNG, JPEG or WebP "
                                    "made by A1111, or a "
                                    "parameters .txt")
    imp.add_argument("-o", "--output", required=True, metavar="OUT.json", help="where to write the workflow")

    nodes = sub.add_parser("nodes", help="list node types with their ports and parameters")
    nodes.add_argument("--json", action="store_true")

    models = sub.add_parser("models", help="list the models found in the model folders, or download one")
    models.add_argument("--json", action="store_true")
    models.add_argument("--hash", action="store_true", help="also print each file's SHA-256 (computed once, cached)")
    models.add_argument("--catalogue", action="store_true", help="list the standard models that can be downloaded")
    models.add_argument("--download", metavar="NAME", help="download a catalogue model (name or file name), a URL, "
                        "or a Hugging Face file given as owner/repo/path")
    models.add_argument("--kind", choices=[str(k) for k in DOWNLOAD_KINDS],
                        help="the model folder a URL download goes into (default: checkpoints)")
    models.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of a URL download")

    from studio.batch.cli import add_parser as add_batch_parser

    add_batch_parser(sub)

    doctor = sub.add_parser("doctor", help="check Python, torch and the GPU, Qt's system libraries, the model "
                            "and output folders; exit 1 if something will not work")
    doctor.add_argument("--json", action="store_true")

    gui = sub.add_parser("gui", help="open the desktop studio (the default)")
    gui.add_argument("flow", nargs="?", help="workflow or PNG to open")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from studio.cli_output import printable_output

    args = _parser().parse_args(argv)
    if (args.command or "gui") == "gui":
        return _main(args)
    with printable_output():  # what files say reaches the terminal as text, never as escape codes
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    setup_logging()  # tracebacks go to the log file, never to the terminal
    if args.version:  # from package metadata: no torch or Qt import
        from studio.app.about_info import version_lines

        print("\n".join(version_lines()))
        return EXIT_OK
    command = args.command or "gui"
    try:
        if command == "run":
            return cmd_run(args)
        if command == "batch":
            from studio.batch.cli import cmd_batch

            return cmd_batch(args)
        if command == "validate":
            return cmd_validate(args)
        if command == "import":
            return cmd_import(args)
        if command == "nodes":
            return cmd_nodes(args)
        if command == "models":
            from studio.cli_models import cmd_models

            return cmd_models(args)
        if command == "doctor":
            from studio.doctor import cmd_doctor

            return cmd_doctor(args)
        return cmd_gui(getattr(args, "flow", None))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line for the user, the traceback in the log
        import logging

        logging.getLogger("studio.cli").error("internal error in %s", " ".join(sys.argv), exc_info=True)
        log = log_file() if logging.getLogger("studio").handlers else None
        where = f" (details in {log})" if log else ""
        print(f"error: internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_NODE_FAILED


# --- helpers --------------------------------------------------------------------------------------


def _session(output_dir: str | None = None) -> Any:
    from studio.app import Session
    from studio.core.settings import Settings

    settings = Settings.load()
    for warning in getattr(settings, "warnings", ()):
        print(f"warning: {warning}", file=sys.stderr)
    return Session(settings=settings, output_dir=output_dir)


def _open(session: Any, flow: str, *, quiet: bool = False) -> Any:
    """Open our workflow, or import a ComfyUI / A1111 one (its report goes to stderr)."""
    from studio.core.workflow import WorkflowError

    try:
        report = session.open(flow)
    except WorkflowError as exc:
        raise UsageError(str(exc)) from None
    if report is not None and not quiet:
        _print_report(report)
    return session.graph


def _load_any(flow: str) -> tuple[Any, Any]:
    session = _session()
    from studio.core.workflow import WorkflowError

    try:
        report = session.open(flow)
    except WorkflowError as exc:
        raise UsageError(str(exc)) from None
    return session.graph, report


def _print_report(report: Any) -> None:
    print(f"imported from {report.source}", file=sys.stderr)
    for line in report.lines:
        print(f"  {line}", file=sys.stderr)


def _parse_assignment(text: str) -> tuple[str, str, str]:
    left, eq, value = text.partition("=")
    node_ref, dot, param = left.rpartition(".")
    if not eq or not dot or not node_ref or not param:
        raise UsageError(f"expected NODE.PARAM=VALUE, got {text!r}")
    return node_ref, param, value


def _target(graph: Any, node_ref: str, param: str) -> tuple[Any, Any]:
    hits = graph.find_nodes(node_ref)
    if not hits:
        raise UsageError(f"no node with id or title {node_ref!r}")
    if len(hits) > 1:
        ids = ", ".join(n.id for n in hits)
        raise UsageError(f"{len(hits)} nodes are titled {node_ref!r} ({ids}); use a node id")
    node = hits[0]
    nt = graph.node_type(node)
    decl = nt.input(param) if nt else None
    if decl is None or decl.wire:
        names = ", ".join(i.name for i in nt.params) if nt else "none known"
        raise UsageError(f"{graph.title_of(node)} has no parameter {param!r} (parameters: {names})")
    return node, decl


def _apply_assignments(graph: Any, assignments: list[str]) -> None:
    """``--set NODE.PARAM=VALUE`` options, each checked against the node's declaration."""
    for assignment in assignments:
        ref, param, text = _parse_assignment(assignment)
        node, decl = _target(graph, ref, param)
        graph.set_param(node.id, decl.name, _coerce(graph, node, decl, text))


def _coerce(graph: Any, node: Any, decl: Any, text: str) -> Any:
    try:
        value = decl.coerce(text)
    except ValueError:
        raise UsageError(f"{graph.title_of(node)}.{decl.name}: {text!r} is not a valid "
                         f"{decl.kind.value.lower()}") from None
    problem = decl.problem(value)
    if problem:
        raise UsageError(f"{graph.title_of(node)}.{decl.name}: {problem}")
    return value


def _print_problems(problems: Sequence[Any]) -> None:
    for p in problems:
        print(f"{p.severity}: {p}", file=sys.stderr)


# --- commands -------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    session = _session(args.output_dir)
    graph = _open(session, args.flow)
    _apply_assignments(graph, args.set)

    variants: list[tuple[Any, Any, Any] | None] = [None]
    if args.sweep:
        ref, param, text = _parse_assignment(args.sweep)
        node, decl = _target(graph, ref, param)
        values = [v for v in text.split(",") if v.strip()]
        if not values:
            raise UsageError("--sweep needs at least one value")
        variants = [(node, decl, _coerce(graph, node, decl, v.strip())) for v in values]

    _preflight(session, args.flow)
    _record_models(session)

    listener = _RunPrinter(graph, as_json=args.json)
    session.listeners.append(listener)
    exit_code = EXIT_OK
    with _Interruptible(session):
        for variant in variants:
            if variant is not None:
                node, decl, value = variant
                graph.set_param(node.id, decl.name, value)
            # Seeds move on between the runs as each seed's policy says (fixed, increment, …).
            for job in session.enqueue(args.repeat):
                summary = _run_in_thread(session, job)
                if summary.failed or summary.skipped:
                    exit_code = EXIT_NODE_FAILED
                if summary.cancelled:
                    return 130
    _finish_cache_writes(as_json=args.json)
    return exit_code


def _finish_cache_writes(*, as_json: bool) -> None:
    """A first load leaves its converted weights to a background writer; say why exiting waits."""
    if "studio.diffusion.conversion_cache" not in sys.modules:
        return
    from studio.diffusion.conversion_cache import wait_for_writes, writes_pending

    if writes_pending():
        if not as_json:
            print("saving converted model weights for faster loads next time…", file=sys.stderr, flush=True)
        wait_for_writes()


def _run_in_thread(session: Any, job: Any) -> Any:
    """Run one job in a worker thread, so that Ctrl+C is handled at once even while a library call
    (a model load) holds the main thread's attention."""
    import threading

    taken = session.queue.take_next()
    assert taken is job, "jobs run in the order they were queued"
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(session.execute(job)), name="latent-studio-run",
                              daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if not result:
        raise RuntimeError("the run ended without a summary")
    return result[0]


class _Interruptible:
    """First Ctrl+C cancels the run (it stops within a step); a second one exits at once."""

    previous: Callable[[int, FrameType | None], Any] | int | None  # the SIGINT handler to restore

    def __init__(self, session: Any) -> None:
        self.session, self.presses, self.previous = session, 0, None

    def _handler(self, signum: int, frame: Any) -> None:
        import os

        self.presses += 1
        if self.presses == 1:
            print("cancelling… (press Ctrl+C again to quit now)", file=sys.stderr, flush=True)
            self.session.cancel_all()
        else:
            print("interrupted", file=sys.stderr, flush=True)
            os._exit(130)

    def __enter__(self) -> _Interruptible:
        self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.signal(signal.SIGINT, self.previous or signal.default_int_handler)


def _preflight(session: Any, flow: str) -> None:
    """Before a headless run, what ``validate`` checks (``studio.app.preflight``): renamed models found
    by SHA-256 are used (noted on stderr); any error exits 2, naming every problem."""
    from studio.app.preflight import preflight

    result = preflight(session.graph, session.lookup_services(), find_renamed=True)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    errors = result.errors
    if errors:
        _print_problems(errors)
        models = f"; {result.missing_models} model(s) used by the workflow cannot be found" if result.missing_models else ""
        raise UsageError(f"{flow}: the workflow has {len(errors)} problem(s){models}")


def _record_models(session: Any) -> None:
    """The models table (file, kind, family, size, SHA-256) filled in for the PNGs the run writes."""
    from studio.diffusion.model_refs import refresh_models_table

    graph, settings = session.graph, session.settings
    shown: set[str] = set()

    def progress(name: str, done: int, total: int) -> None:
        if total > 256 * 2**20 and name not in shown:  # hashing is cached: only new large files take time
            shown.add(name)
            print(f"hashing {name} (once; the result is cached)…", file=sys.stderr)

    refresh_models_table(graph, settings, progress=progress)


class _RunPrinter:
    """Prints a run's progress (stderr) and its summary (stdout; one JSON object per run with --json)."""

    def __init__(self, graph: Any, *, as_json: bool) -> None:
        self.graph, self.as_json, self.runs = graph, as_json, 0

    def __call__(self, event: Any) -> None:
        from studio.app import events as sev

        if isinstance(event, sev.JobFinished) and event.job.summary is not None:
            self.runs += 1
            _report(self.graph, event.job.summary, self.runs, self.as_json)
            return
        if self.as_json:
            return
        kind = getattr(event, "kind", "")
        if kind == "node_started":
            print(f"▶ {self._title(event.node)}", file=sys.stderr)
        elif kind == "node_error":
            print(f"✖ {self._title(event.node)}: {event.message}", file=sys.stderr)
        elif kind == "node_log":
            print(f"  {event.level}: {self._title(event.node)}: {event.message}", file=sys.stderr)
        elif kind == "cancelled":
            print("cancelled", file=sys.stderr)

    def _title(self, node_id: str) -> str:
        title = self.graph.title_of(node_id) if node_id in self.graph.nodes else node_id
        return title if len(title) <= 120 else title[:119] + "…"  # a file's title, not a screenful


def _report(graph: Any, summary: Any, run_no: int, as_json: bool) -> None:
    if as_json:
        line = {"run": run_no, "executed": list(summary.executed), "cached": list(summary.cached),
                "outputs": list(summary.outputs), "seconds": round(summary.seconds, 4)}
        if summary.failed:
            line["failed"] = summary.failed
        if summary.skipped:
            line["skipped"] = list(summary.skipped)
        print(json.dumps(line), flush=True)
        return
    print(f"run {run_no}: executed {len(summary.executed)}, cached {len(summary.cached)}, "
          f"{summary.seconds:.2f} s")
    for node_id, message in summary.failed.items():
        title = graph.title_of(node_id) if node_id in graph.nodes else node_id
        print(f"  failed: {title}: {message}")
    for path in summary.outputs:
        print(f"  wrote {path}")


def cmd_validate(args: argparse.Namespace) -> int:
    from studio.app.preflight import preflight

    session = _session()
    graph = _open(session, args.flow)
    # The checks `run` makes before it executes anything, renamed models found as it finds them.
    result = preflight(graph, session.lookup_services(), find_renamed=True)
    for note in result.notes:
        print(f"note: {note}")
    for p in result.problems:
        print(f"{p.severity}: {p}")
    errors = result.errors
    if errors:
        print(f"{args.flow}: {len(errors)} problem(s)")
        return EXIT_BAD_INPUT
    print(f"{args.flow}: ok ({len(graph.nodes)} nodes, {len(graph.links)} links)")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from studio.core.workflow import save

    graph, report = _load_any(args.source)
    out = Path(args.output)
    if out.resolve() == Path(args.source).resolve():
        raise UsageError("the output would overwrite the input; choose another file")
    if report is None:
        print(f"{args.source} is already a Latent Studio workflow; writing it as is", file=sys.stderr)
    else:
        _print_report(report)
    try:
        save(graph, out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    errors = [p for p in graph.validate() if p.severity == "error"]
    print(f"wrote {out} ({len(graph.nodes)} nodes, {len(graph.links)} links)")
    if errors:
        print(f"{len(errors)} problem(s) to fix before it runs; see `latent-studio validate {out}`", file=sys.stderr)
    return EXIT_OK


def _port_info(i: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"name": i.name, "type": str(i.type)}
    if hasattr(i, "wire"):
        info["wire"] = i.wire
        if not i.wire:
            info["default"] = i.default
            for key in ("min", "max", "step", "choices", "widget"):
                value = getattr(i, key)
                if value is not None:
                    info[key] = list(value) if isinstance(value, tuple) else value
        if i.optional:
            info["optional"] = True
    return info


def cmd_nodes(args: argparse.Namespace) -> int:
    from studio.core.registry import default_registry

    reg = default_registry()
    if args.json:
        out = [{"id": t.id, "version": t.version, "category": t.category, "title": t.title,
                "description": t.description, "inputs": [_port_info(i) for i in t.inputs],
                "outputs": [_port_info(o) for o in t.outputs], "side_effect": t.side_effect} for t in reg]
        print(json.dumps(out, indent=2))
        for err in reg.errors:  # node packs that failed to load; on stderr, so stdout stays JSON
            print(f"warning: {err}", file=sys.stderr)
        return EXIT_OK
    for t in reg:
        print(f"{t.id}  {t.version}  [{t.category}] {t.title}")
        for i in t.wires:
            print(f"    in   {i.name}: {i.type}{' (optional)' if i.optional else ''}")
        for i in t.params:
            rng = f" {i.min}..{i.max}" if i.min is not None or i.max is not None else ""
            choices = f" {{{', '.join(i.choices)}}}" if i.choices else ""
            print(f"    param {i.name}: {i.kind.value} = {i.default!r}{rng}{choices}")
        for o in t.outputs:
            print(f"    out  {o.name}: {o.type}")
    for err in reg.errors:
        print(f"warning: {err}", file=sys.stderr)
    return EXIT_OK


def cmd_gui(flow: str | None) -> int:
    from studio.qt_check import check_qt, failure_text

    qt = check_qt()  # before Qt loads: Qt aborts the process (no exception) when its plugin cannot load
    if not qt.ok:
        print(failure_text(qt), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        from studio.ui.app import run_app
    except ImportError as exc:
        print(f"error: the desktop studio cannot start: {exc}", file=sys.stderr)
        return EXIT_NODE_FAILED
    return run_app(Path(flow) if flow else None)


if __name__ == "__main__":
    sys.exit(main())
