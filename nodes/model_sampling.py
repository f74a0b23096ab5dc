"""Model sampling: read a model's output as noise, v or x₀ prediction, with zero terminal SNR or not."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Bool, Choice, Out, Wire, node
from studio.diffusion.model_sampling import SAMPLINGS, with_sampling


@node(
    "model.sampling_discrete", title="Model Sampling (Discrete)", category="Models",
    inputs=[Wire("model", "MODEL[$F]"),
            Choice("sampling", SAMPLINGS, "eps",
                   tooltip="what the model predicts: eps = the noise (most models), v_prediction = v (SD 2.x 768 "
                           "and v-pred fine-tunes), lcm = noise, for LCM-distilled models (use the lcm sampler), "
                           "x0 = the clean image"),
            Bool("zsnr", False,
                 tooltip="zero terminal SNR: the noise schedule ends in pure noise (for models trained so, "
                         "usually v-prediction ones); sampling then starts at the last timestep")],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["sampling", "zsnr"],
    aliases=("ModelSamplingDiscrete",),
)
def sampling_discrete(ctx: NodeContext, model: Any, sampling: str, zsnr: bool) -> Any:
    """The same model (its UNet shared, unchanged) with another prediction type and noise schedule."""
    return with_sampling(model, sampling, bool(zsnr))
