"""Tiny random-weight SD 1.5 / SDXL components (fp32, CPU), built once per test session."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import diffusers
import pytest
import torch

from studio.diffusion.values import ControlNet, TextEncoder, UNetModel, VAEModel

# These models are tiny: extra intra-op threads only add overhead, and on a busy 2-core machine
# spinning OpenMP workers slow every call down many times over.
torch.set_num_threads(1)

WORDS = ["cat", "dog", "red", "blue", "house", "tree", "sky", "photo", "of", "a"]

SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "trained_betas": None, "clip_sample": False, "prediction_type": "epsilon",
}
SDXL_SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "steps_offset": 1,
    "timestep_spacing": "leading", "prediction_type": "epsilon", "interpolation_type": "linear",
}


def make_tokenizer(folder: Path):
    """A CLIP BPE tokenizer over bytes plus a few whole words (one token each)."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    merges = []
    for word in WORDS:
        # Left-to-right merges building each word, ending in its "</w>" form.
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        acc = pieces[0]
        for p in pieces[1:]:
            merges.append(f"{acc} {p}")
            acc += p
            vocab.setdefault(acc, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)


def _wake_zero_modules(model) -> None:
    # ControlNets start with zero convolutions (residuals exactly 0); give them random weights so
    # that control has an effect worth comparing.
    for p in model.parameters():
        if p.ndim > 1 and not p.detach().any():
            torch.nn.init.normal_(p, std=0.2)


def _text_config(tok, **kw):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=3, vocab_size=len(tok),
        max_position_embeddings=77, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, projection_dim=32, **kw,
    )


def _vae():
    return diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        latent_channels=4, norm_num_groups=4, sample_size=64,
    ).eval()


@pytest.fixture(scope="session")
def sd15(tmp_path_factory):
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tok = make_tokenizer(tmp_path_factory.mktemp("tok"))
    unet_kw = dict(
        block_out_channels=(8, 16), layers_per_block=1, in_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=32, norm_num_groups=4, attention_head_dim=4,
    )
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, out_channels=4, up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), **unet_kw,
    ).eval()
    controlnets = []
    for _ in range(2):
        cn = diffusers.ControlNetModel(conditioning_embedding_out_channels=(4, 4, 4, 4), **unet_kw).eval()
        _wake_zero_modules(cn)
        controlnets.append(cn)
    encoder = CLIPTextModel(_text_config(tok)).eval()
    vae = _vae()
    return SimpleNamespace(
        tokenizer=tok, encoder=encoder, unet=unet, vae=vae, controlnets=controlnets,
        model=UNetModel("sd15", unet, dict(SD15_SCHEDULER)),
        clip=TextEncoder("sd15", (tok,), (encoder,)),
        vae_model=VAEModel("sd15", vae),
        control=[ControlNet("sd15", cn) for cn in controlnets],
    )


@pytest.fixture(scope="session")
def sdxl(tmp_path_factory):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(1)
    tok = make_tokenizer(tmp_path_factory.mktemp("tokxl"))
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=4,
    ).eval()
    enc1 = CLIPTextModel(_text_config(tok, hidden_act="gelu")).eval()
    enc2 = CLIPTextModelWithProjection(_text_config(tok, hidden_act="gelu")).eval()
    vae = _vae()
    controlnet = diffusers.ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(4, 4, 4, 4)).eval()
    _wake_zero_modules(controlnet)
    return SimpleNamespace(
        tokenizer=tok, encoder=enc1, encoder_2=enc2, unet=unet, vae=vae, controlnet=controlnet,
        model=UNetModel("sdxl", unet, dict(SDXL_SCHEDULER)),
        clip=TextEncoder("sdxl", (tok, tok), (enc1, enc2)),
        vae_model=VAEModel("sdxl", vae),
    )
