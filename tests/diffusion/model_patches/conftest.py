"""A tiny random-weight SD 1.5-style pipeline (fp32, CPU) with three UNet levels (8, 16, 32 channels), so
that both FreeU stages (4× and 2× the base width) occur, and a cross-attention middle block."""

from __future__ import annotations

from types import SimpleNamespace

import diffusers
import pytest
import torch

from studio.diffusion.values import TextEncoder, UNetModel
from tests.diffusion.sampling.conftest import SD15_SCHEDULER, _text_config, _vae, make_tokenizer

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    from transformers import CLIPTextModel

    torch.manual_seed(3)
    tok = make_tokenizer(tmp_path_factory.mktemp("tok_patches"))
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=4, attention_head_dim=4,
    ).eval()
    encoder = CLIPTextModel(_text_config(tok)).eval()
    return SimpleNamespace(tokenizer=tok, encoder=encoder, unet=unet, vae=_vae(),
                           model=UNetModel("sd15", unet, dict(SD15_SCHEDULER)),
                           clip=TextEncoder("sd15", (tok,), (encoder,)))
