"""GLIGEN: load GLIGEN weights, and ground phrases in boxes on a conditioning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.models import _check, _fingerprint
from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import BoxParams, File, Float, Int, Out, String, Wire, node
from studio.core.services import RunServices


def _family(params: Mapping[str, Any], services: RunServices) -> str | None:
    from studio.diffusion.gligen import family_of_gligen
    from studio.diffusion.model_folders import resolve

    name = params.get("gligen_name") or ""
    return family_of_gligen(resolve(list(services.model_roots), "gligen", name)) if name else None


@node(
    "model.gligen", title="Load GLIGEN", category="Models",
    inputs=[File("gligen_name", file_kind="gligen",
                 tooltip="GLIGEN text-box weights for SD 1.x: ComfyUI's gligen_sd14_textbox_pruned.safetensors, "
                         "or a diffusers GLIGEN UNet (its folder or unet/diffusion_pytorch_model.safetensors)")],
    outputs=[Out("gligen", "GLIGEN[$F]")],
    family=_family,
    fingerprint=_fingerprint("gligen_name", "gligen"),
    check=_check("gligen_name", "gligen"),
    aliases=("GLIGENLoader",),
)
def load_gligen(ctx: NodeContext, gligen_name: str) -> Any:
    """Load GLIGEN weights: the gated self-attention layers that place phrases in boxes (SD 1.x models)."""
    mm = ctx.models
    ctx.check_cancel()
    return mm.load_gligen(mm.resolve("gligen", gligen_name), progress=ctx.progress)


@node(
    "conditioning.gligen_box", title="GLIGEN Text Box", category="Conditioning",
    inputs=[
        Wire("conditioning_to", "CONDITIONING[$F]", label="conditioning"),
        Wire("clip", "CLIP[$F]"),
        Wire("gligen", "GLIGEN[$F]"),
        String("text", "", tooltip="the phrase to place in the box, e.g. 'a red apple'"),
        Int("width", 64, min=8, max=16384, step=8, tooltip="box width in image pixels"),
        Int("height", 64, min=8, max=16384, step=8, tooltip="box height in image pixels"),
        Int("x", 0, min=0, max=16384, step=8, tooltip="box left edge in image pixels"),
        Int("y", 0, min=0, max=16384, step=8, tooltip="box top edge in image pixels"),
        Float("beta", 0.3, min=0.0, max=1.0, step=0.05, label="grounded steps",
              tooltip="fraction of the sampling steps during which the box grounds (the paper's scheduled "
                      "sampling β: later steps refine the image without it); 1 = every step, as ComfyUI"),
    ],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    summary=["text", "x", "y"],
    aliases=("GLIGENTextBoxApply",),
    box=BoxParams(label="text"),
)
def gligen_box(ctx: NodeContext, conditioning_to: Any, clip: Any, gligen: Any, text: str, width: int, height: int,
               x: int, y: int, beta: float) -> Any:
    """Place a phrase in a box with GLIGEN: every entry of the conditioning gets this box (chain these nodes
    for several boxes, up to 30). The phrase is encoded by the CLIP; the sampler runs the GLIGEN layers
    during the first β of the steps. Boxes are in pixels of the generated image."""
    from studio.diffusion.gligen import MAX_OBJECTS, GligenBox, add_box, phrase_embedding
    from studio.diffusion.values import Area

    if gligen.family is not None and clip.family != gligen.family:
        raise NodeFailure(f"GLIGEN[{gligen.family}] does not fit CLIP[{clip.family}]")
    if not text.strip():
        ctx.warn("the GLIGEN box has no text: it grounds an empty phrase")
    embedding = phrase_embedding(clip, text)
    if embedding.shape[0] != gligen.context_dim:
        raise NodeFailure(f"this CLIP encodes phrases {embedding.shape[0]} wide; the GLIGEN model reads "
                          f"{gligen.context_dim}: they are of different model families")
    if any(len(e.gligen) >= MAX_OBJECTS for e in conditioning_to.entries()):
        ctx.warn(f"more than {MAX_OBJECTS} GLIGEN boxes: only the first {MAX_OBJECTS} ground anything")
    box = GligenBox(gligen, embedding, Area(x, y, width, height), phrase=text, beta=float(beta))
    return add_box(conditioning_to, box)
