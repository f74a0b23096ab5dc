"""``latent-studio batch``: a workflow run once per combination of sweeps and prompts, here or on a
Ray cluster.

The workflow is opened, overridden and checked exactly as ``latent-studio run`` does it (the same
helpers), so a bad workflow exits 2 before any worker starts. Progress goes to stderr, one line per
worker event; each written file is printed on stdout (one JSON object per run with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import Override

CLUSTER_HELP = ("where runs go: 'local' (this process, one run after another), 'auto' (a running Ray "
                "cluster, else a Ray instance started on this machine, else this process when Ray is not "
                "installed), or ray://HOST:PORT (default: auto)")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Registers the ``batch`` subcommand on the CLI's subparsers."""
    p = sub.add_parser("batch", help="run a workflow once per sweep value / prompt, fanned out over a Ray cluster",
                       description="Run a workflow once per combination of --sweep values and --prompts lines. "
                                   "Each image is byte for byte what `latent-studio run` writes for the same values.")
    p.add_argument("flow", help="workflow .json, or a .png saved by the studio; ComfyUI and A1111 files are "
                   "imported on the fly")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a parameter for every run; NODE is a node id or a unique node title")
    p.add_argument("--sweep", action="append", default=[], metavar="NODE.PARAM=V1,V2,...",
                   help="one run per value; several sweeps are crossed (every combination)")
    p.add_argument("--prompts", metavar="FILE", help="one run per non-empty line of FILE, set on --prompt-node")
    p.add_argument("--prompt-node", metavar="NODE[.PARAM]", default="Prompt",
                   help="the text node (and parameter, default 'text') the --prompts lines go to "
                        "(default: the node titled 'Prompt')")
    p.add_argument("--output-dir", metavar="DIR", help="where the images are written (default: Preferences)")
    p.add_argument("--cluster", default="auto", metavar="local|auto|ray://HOST:PORT", help=CLUSTER_HELP)
    p.add_argument("--workers", type=int, metavar="N",
                   help="number of workers (default: one per GPU of the cluster, else 1); on a machine "
                        "without GPUs each worker takes one CPU")
    p.add_argument("--json", action="store_true", help="print one JSON object per run")
    return p


def _usage(message: str) -> Exception:
    from studio.cli import UsageError

    return UsageError(message)


def _sweep_axis(graph: Any, text: str) -> list[list[Override]]:
    from studio.cli import _coerce, _parse_assignment, _target

    from .plan import Override

    ref, param, values_text = _parse_assignment(text)
    node, decl = _target(graph, ref, param)
    values = [v.strip() for v in values_text.split(",") if v.strip()]
    if not values:
        raise _usage(f"--sweep {text!r} needs at least one value")
    return [[Override(node.id, decl.name, _coerce(graph, node, decl, v))] for v in values]


def _prompt_axis(graph: Any, file: str, node_ref: str) -> list[list[Override]]:
    from studio.cli import _coerce, _target

    from .plan import Override

    ref, param = node_ref, "text"
    left, dot, right = node_ref.rpartition(".")
    if dot and not graph.find_nodes(node_ref) and graph.find_nodes(left):  # a title may contain a dot
        ref, param = left, right
    node, decl = _target(graph, ref, param)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _usage(f"cannot read --prompts {file}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise _usage(f"--prompts {file} has no prompt in it")
    return [[Override(node.id, decl.name, _coerce(graph, node, decl, line))] for line in lines]


def _check_cluster(cluster: str) -> None:
    if cluster in ("local", "auto") or cluster.startswith("ray://"):
        return
    raise _usage(f"--cluster must be local, auto or ray://HOST:PORT, not {cluster!r}")


def cmd_batch(args: argparse.Namespace) -> int:
    from studio.cli import _apply_assignments, _open, _preflight, _record_models, _session
    from studio.core.workflow import dumps

    from .plan import build_plan, crossed

    _check_cluster(args.cluster)
    if args.workers is not None and args.workers < 1:
        raise _usage("--workers must be at least 1")
    session = _session(args.output_dir)
    graph = _open(session, args.flow)
    _apply_assignments(graph, args.set)
    axes = [_sweep_axis(graph, s) for s in args.sweep]
    if args.prompts:
        axes.append(_prompt_axis(graph, args.prompts, args.prompt_node))
    _preflight(session, args.flow)
    _record_models(session)
    document = dumps(graph)  # the workflow as every run starts from it
    plan = build_plan(graph, crossed(axes), rng=session.rng)
    out_dir = session.lookup_services().output_dir
    source = str(session.source) if session.source else None
    return run_batch(document, session.settings, source, plan, out_dir, cluster=args.cluster,
                     workers=args.workers, as_json=args.json)


def _say(worker: str, message: str) -> None:
    print(f"[{worker}] {message}", file=sys.stderr, flush=True)


def run_batch(document: str, settings: Any, source: str | None, plan: list[Any], out_dir: Path, *,
              cluster: str = "auto", workers: int | None = None, as_json: bool = False) -> int:
    from studio.cli import EXIT_NODE_FAILED, EXIT_OK

    from .output import OrderedWriter
    from .schedule import Scheduler

    def written(outcome: Any, paths: list[Path]) -> None:
        if as_json:
            print(json.dumps({"run": outcome.index + 1, "worker": outcome.worker,
                              "outputs": [str(p) for p in paths], "seconds": round(outcome.seconds, 4)}), flush=True)
        else:
            for path in paths:
                print(f"wrote {path}", flush=True)

    pool, started_ray = open_pool(document, settings, source, cluster=cluster, workers=workers)
    writer = OrderedWriter(out_dir, len(plan), written)
    scheduler = Scheduler(pool, plan, on_result=writer.add, progress=_say)
    try:
        report = scheduler.run()
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr, flush=True)
        writer.flush()
        return 130
    finally:
        close_pool(pool, started_ray)
    writer.flush()
    for index, why in sorted(report.failed.items()):
        if as_json:
            print(json.dumps({"run": index + 1, "failed": why}), flush=True)
        print(f"run {index + 1} failed: {why}", file=sys.stderr)
    print(f"{len(report.done)} of {len(plan)} run(s) done in {report.seconds:.1f} s"
          + (f", {len(report.retried)} retried" if report.retried else ""), file=sys.stderr)
    if report.cancelled:
        return 130
    return EXIT_OK if report.ok else EXIT_NODE_FAILED


def open_pool(document: str, settings: Any, source: str | None, *, cluster: str = "auto",
              workers: int | None = None) -> tuple[Any, bool]:
    """The workers for a batch, and whether Ray was started here (and must be shut down)."""
    from .local_pool import LocalPool
    from .ray_pool import ClusterError, RayPool, connect, ray_available

    if cluster == "local" or (cluster == "auto" and not ray_available()):
        if workers not in (None, 1):
            print("note: runs one at a time in this process (Ray is not installed: "
                  "pip install 'latent-studio[cluster]')", file=sys.stderr)
        return LocalPool(document, settings, source), False
    if not ray_available():
        raise _usage(f"--cluster {cluster} needs Ray: pip install 'latent-studio[cluster]'")
    try:
        started = connect(cluster, num_cpus=max(2, workers or 1))
    except ClusterError as exc:
        raise _usage(str(exc)) from None
    try:
        pool = RayPool(document, settings, source, workers=workers)
    except BaseException as exc:
        if started:
            _shutdown_ray()
        if isinstance(exc, ClusterError):
            raise _usage(str(exc)) from None
        raise
    for name, info in pool.infos.items():
        gpus = f", GPU {info['gpus']}" if info.get("gpus") else ""
        _say(name, f"ready on {info['host']} (pid {info['pid']}{gpus})")
    return pool, started


def close_pool(pool: Any, started_ray: bool) -> None:
    try:
        pool.close()
    finally:
        if started_ray:
            _shutdown_ray()


def _shutdown_ray() -> None:
    import ray

    ray.shutdown()
