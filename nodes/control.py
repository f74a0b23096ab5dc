"""Attach a ControlNet (or T2I-Adapter) to a pair of conditionings."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import Float, Out, Wire, node


@node(
    "control.apply", title="Apply ControlNet", category="Conditioning",
    inputs=[
        Wire("positive", "CONDITIONING[$F]"),
        Wire("negative", "CONDITIONING[$F]"),
        Wire("control_net", "CONTROL_NET[$F]"),
        Wire("image", "IMAGE", tooltip="the hint (edges, depth, pose, …); resized to the output size"),
        Float("strength", 1.0, min=0.0, max=2.0, step=0.05),
        Float("start", 0.0, min=0.0, max=1.0, step=0.01,
              tooltip="fraction of the sampling steps at which control begins (not a noise level)"),
        Float("end", 1.0, min=0.0, max=1.0, step=0.01,
              tooltip="fraction of the sampling steps after which control stops (not a noise level)"),
    ],
    outputs=[Out("positive", "CONDITIONING[$F]"), Out("negative", "CONDITIONING[$F]")],
    summary=["strength", "start", "end"],
    aliases=("ControlNetApply", "ControlNetApplyAdvanced"),
)
def apply(ctx: NodeContext, positive: Any, negative: Any, control_net: Any, image: Any, strength: float,
          start: float, end: float) -> tuple[Any, Any]:
    """Guide sampling with a ControlNet and a hint image. The same control goes to both the positive
    and the negative prompt (as in diffusers' ControlNet pipelines); chain several of these nodes to
    combine ControlNets, whose effects add up. Start and end are fractions of the steps. A T2I-Adapter
    on the control_net input works the same way (it runs once on the hint; see studio.diffusion.t2i_adapter)."""
    from studio.diffusion.values import ControlSpec

    try:
        hint = check_image(image, "the hint image")
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    for cond in (positive, negative):
        if cond.family != control_net.family:
            raise NodeFailure(f"CONTROL_NET[{control_net.family}] does not fit CONDITIONING[{cond.family}]")
    if start >= end:
        ctx.warn(f"start {start:g} is not before end {end:g}: this ControlNet will never act")
    spec = ControlSpec(control_net, hint, strength=float(strength), start=float(start), end=float(end))
    return positive.with_control(spec), negative.with_control(spec)
