"""Tiny text encoders (fp32, CPU) and an embeddings folder for the textual-inversion tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file

from studio.diffusion.values import TextEncoder
from tests.diffusion.sampling.conftest import _text_config, make_tokenizer

torch.set_num_threads(1)

WIDTH_L, WIDTH_G = 32, 48  # unlike widths, so that a vector given to the wrong encoder would fail


def vecs(n: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) * 0.5


@pytest.fixture
def root(tmp_path):
    """A models root whose embeddings folder holds one file of each layout."""
    folder = tmp_path / "embeddings"
    (folder / "neg").mkdir(parents=True)
    save_file({"emb_params": vecs(1, WIDTH_L, 1)}, str(folder / "One.safetensors"))
    save_file({"emb_params": vecs(3, WIDTH_L, 2)}, str(folder / "neg" / "EasyNegativeV2.safetensors"))
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": torch.nn.Parameter(vecs(2, WIDTH_L, 3))},
                "name": "style", "step": 100, "sd_checkpoint": None, "sd_checkpoint_name": None},
               folder / "style-a1111.pt")
    save_file({"clip_l": vecs(2, WIDTH_L, 4), "clip_g": vecs(2, WIDTH_G, 5)}, str(folder / "xl.safetensors"))
    save_file({"emb_params": vecs(1, 64, 6)}, str(folder / "wide.safetensors"))
    return tmp_path


@pytest.fixture(scope="session")
def encoders(tmp_path_factory):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(3)
    tok = make_tokenizer(tmp_path_factory.mktemp("tok"))
    enc_l = CLIPTextModel(_text_config(tok)).eval()
    g_cfg = CLIPTextConfig(**{**_text_config(tok, hidden_act="gelu").to_dict(), "hidden_size": WIDTH_G,
                              "projection_dim": WIDTH_G})
    enc_g = CLIPTextModelWithProjection(g_cfg).eval()
    return SimpleNamespace(
        tokenizer=tok, enc_l=enc_l, enc_g=enc_g,
        sd15=TextEncoder("sd15", (tok,), (enc_l,)),
        sdxl=TextEncoder("sdxl", (tok, tok), (enc_l, enc_g)),
        refiner=TextEncoder("sdxl_refiner", (tok,), (enc_g,)),
    )
