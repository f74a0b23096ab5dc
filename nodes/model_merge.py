"""Model merging: blend two denoising models of one family, as a whole or block by block.

The result is model1 carrying a merge patch: the shared UNets are never changed; the blend is made
in place around each run that uses it and undone after (``studio.diffusion.model_merge``).
"""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Float, Out, Wire, node
from studio.diffusion.model_merge import merge


def _ratio(name: str, what: str) -> Any:
    return Float(name, 1.0, min=0.0, max=1.0, step=0.01,
                 tooltip=f"share of model 1 in {what} (1 = model 1 alone, 0 = model 2 alone)")


@node(
    "model.merge_simple", title="Merge Models", category="Models",
    inputs=[Wire("model1", "MODEL[$F]"), Wire("model2", "MODEL[$F]"), _ratio("ratio", "every weight")],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["ratio"],
    aliases=("ModelMergeSimple",),
)
def merge_simple(ctx: NodeContext, model1: Any, model2: Any, ratio: float) -> Any:
    """ratio · model1 + (1 − ratio) · model2, weight by weight (model1's scheduler settings)."""
    r = float(ratio)
    return merge(model1, model2, {"input": r, "middle": r, "out": r})


@node(
    "model.merge_blocks", title="Merge Models (Blocks)", category="Models",
    inputs=[Wire("model1", "MODEL[$F]"), Wire("model2", "MODEL[$F]"),
            _ratio("input", "the input blocks (and the embeddings)"), _ratio("middle", "the middle block"),
            _ratio("out", "the output blocks")],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["input", "middle", "out"],
    aliases=("ModelMergeBlocks",),
)
def merge_blocks(ctx: NodeContext, model1: Any, model2: Any, input: float, middle: float, out: float) -> Any:
    """As Merge Models, with its own ratio for the input, middle and output blocks of the UNet."""
    return merge(model1, model2, {"input": float(input), "middle": float(middle), "out": float(out)})
