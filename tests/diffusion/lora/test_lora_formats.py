"""LoRA file formats: LyCORIS LoHa / LoKr / LoCon deltas, kohya names on the SDXL UNet, family detection from
headers, and clear refusals."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from bench.make_lora import kohya_unet_name
from bench.make_models import TINY
from studio.diffusion import lora as lora_mod
from studio.diffusion.errors import ModelError
from studio.diffusion.lora import LoraLayer, LoraPatch, lora_targets, read_lora
from studio.diffusion.lora_keys import inspect_lora, lora_family


class _Two(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin, self.conv = torch.nn.Linear(256, 128), torch.nn.Conv2d(64, 32, 3)


@pytest.mark.parametrize("kind", ["loha", "lokr"])
def test_loha_and_lokr_deltas_match_peft(kind):
    from peft import LoHaConfig, LoKrConfig, inject_adapter_in_model

    torch.manual_seed(0)
    cfg = LoHaConfig(r=4, alpha=8, target_modules=["lin", "conv"], init_weights=False) if kind == "loha" else \
        LoKrConfig(r=2, alpha=3, target_modules=["lin", "conv"], init_weights=False, decompose_both=True)
    model = inject_adapter_in_model(cfg, _Two())
    for layer in (model.lin, model.conv):
        tensors = {n.split(".")[0]: p.detach() for n, p in layer.named_parameters() if n.endswith(".default")}
        ours = LoraLayer(kind, tensors, float(cfg.alpha)).delta(layer.base_layer.weight.shape, "cpu")
        with torch.no_grad():
            ref = layer.get_delta_weight("default")
        assert ours.shape == ref.shape and float(ref.abs().max()) > 0
        assert float((ours - ref).abs().max()) <= 1e-6


def test_lokr_with_full_factors_is_their_kronecker_product_unscaled():
    # LyCORIS: alpha scales a LoKr layer only where a factor is itself low-rank.
    w1, w2 = torch.randn(2, 3), torch.randn(4, 5)
    delta = LoraLayer("lokr", {"lokr_w1": w1, "lokr_w2": w2}, alpha=7.0).delta((8, 15), "cpu")
    for i in range(2):
        for j in range(3):
            assert torch.allclose(delta[4 * i: 4 * i + 4, 5 * j: 5 * j + 5], w1[i, j] * w2)


def test_locon_with_a_tucker_core_equals_its_three_convolutions():
    g = torch.Generator().manual_seed(1)
    down, mid, up = torch.randn(3, 5, 1, 1, generator=g), torch.randn(3, 3, 3, 3, generator=g), \
        torch.randn(6, 3, 1, 1, generator=g)
    x = torch.randn(1, 5, 9, 9, generator=g)
    chained = torch.nn.functional.conv2d(torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, down), mid), up)
    delta = LoraLayer("lora", {"down": down, "mid": mid, "up": up}, alpha=1.5).delta((6, 5, 3, 3), "cpu")
    assert torch.allclose(torch.nn.functional.conv2d(x, delta), chained * 1.5 / 3, atol=1e-5)


def test_kohya_loha_and_lokr_files_land_on_the_sdxl_unet_by_their_original_block_names(fp32_models, tmp_path):
    unet = fp32_models.sdxl.unet.unet
    g = torch.Generator().manual_seed(2)
    sd, expected = {}, {}
    for module, m in unet.named_modules():
        if not module.endswith(("attn1.to_q", "attn2.to_k", "attn2.to_out.0")):
            continue
        out, inp = m.weight.shape
        name = kohya_unet_name(module, "sdxl", TINY["sdxl"]["unet"])
        if module.endswith("to_q"):
            for w in ("1", "2"):
                sd[f"{name}.hada_w{w}_a"], sd[f"{name}.hada_w{w}_b"] = torch.randn(out, 2, generator=g), \
                    torch.randn(2, inp, generator=g)
        else:
            sd[f"{name}.lokr_w1"] = torch.randn(2, 2, generator=g)
            sd[f"{name}.lokr_w2_a"], sd[f"{name}.lokr_w2_b"] = torch.randn(out // 2, 2, generator=g), \
                torch.randn(2, inp // 2, generator=g)
        sd[f"{name}.alpha"] = torch.tensor(1.0)
        expected[name] = module
    path = tmp_path / "lycoris-sdxl.safetensors"
    save_file(sd, str(path))
    lora = read_lora(path)
    assert lora.family == "sdxl" and {lay.kind for lay in lora.layers.values()} == {"loha", "lokr"}
    targets = lora_targets(lora, {"unet": unet})
    assert targets.unmatched == ()
    placed = dict(targets.parts["unet"])
    assert set(placed) == set(expected.values()) and len(expected) >= 6
    before = {m: unet.get_submodule(m).weight.detach().clone() for m in placed}
    with LoraPatch("x", 0.5, targets.parts).applied(unet):
        for m, layer in placed.items():
            got = unet.get_submodule(m).weight - before[m]
            assert torch.allclose(got, 0.5 * layer.delta(before[m].shape, "cpu"), atol=1e-6)
    assert all(torch.equal(unet.get_submodule(m).weight, w) for m, w in before.items())


def _header_file(tmp_path, name, shapes, meta=None):
    path = tmp_path / name
    save_file({k: torch.zeros(s) for k, s in shapes.items()}, str(path), metadata=meta)
    return path


@pytest.mark.parametrize(("shapes", "meta", "family"), [
    ({"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": (4, 768)}, None, "sd15"),
    ({"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": (4, 1024)}, None, "sd2"),
    ({"lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": (4, 768)}, None, "sdxl"),
    ({"lora_unet_input_blocks_4_1_proj_in.lora_down.weight": (4, 640)}, None, "sdxl"),
    ({"unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": (4, 2048)}, None, "sdxl"),
    ({"lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": (4, 320, 3, 3)}, {"ss_base_model_version": "sd_v1"},
     "sd15"),
    ({"lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": (4, 320, 3, 3)}, None, None),
])
def test_the_family_is_read_from_the_header(tmp_path, shapes, meta, family):
    assert lora_family(_header_file(tmp_path, "x.safetensors", shapes, meta)) == family


def test_the_tiny_files_name_their_family(tiny):
    assert lora_family(tiny.paths["lora-sdxl"]) == "sdxl"
    assert lora_family(tiny.paths["lora-sd15"]) == "sd15"
    info = inspect_lora(tiny.paths["lora-sd15-peft"])
    assert info.layout == "diffusers" and info.parts == ("unet", "text_encoder")


def test_unsupported_layers_and_other_files_are_refused_naming_the_file(tmp_path):
    name = "lora_unet_down_blocks_0_attentions_0_proj_in"
    dora = _header_file(tmp_path, "dora.safetensors", {f"{name}.lora_down.weight": (4, 8), f"{name}.lora_up.weight": (8, 4),
                                                       f"{name}.dora_scale": (1, 8)})
    with pytest.raises(ModelError, match=r"dora\.safetensors: 1 of its 1 layers .*dora_scale"):
        read_lora(dora)
    other = _header_file(tmp_path, "weights.safetensors", {"encoder.conv.weight": (4, 4)})
    with pytest.raises(ModelError, match=r"weights\.safetensors is not a LoRA .*encoder\.conv\.weight"):
        read_lora(other)
    assert lora_family(other) is None


def test_layers_that_name_no_module_are_reported(fp32_models, tmp_path):
    sd = {"lora_unet_down_blocks_1_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 64),
          "lora_unet_down_blocks_1_attentions_0_proj_in.lora_up.weight": torch.zeros(64, 2),
          "lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 64),
          "lora_unet_down_blocks_7_attentions_0_proj_in.lora_up.weight": torch.zeros(64, 2)}
    path = tmp_path / "partly.safetensors"
    save_file(sd, str(path))
    targets = lora_targets(read_lora(path), {"unet": fp32_models.sd15.unet.unet})
    assert targets.unmatched == ("lora_unet_down_blocks_7_attentions_0_proj_in",)
    assert [m for m, _ in targets.parts["unet"]] == ["down_blocks.1.attentions.0.proj_in"]


def test_older_diffusers_names_land_where_the_peft_names_do(fp32_models, tmp_path):
    from safetensors.torch import load_file

    ns = fp32_models.sd15
    peft = load_file(str(fp32_models.paths["lora-sd15-peft"]))
    old = {}
    te_old = {"q_proj": "to_q_lora", "k_proj": "to_k_lora", "v_proj": "to_v_lora", "out_proj": "to_out_lora"}
    for key, value in peft.items():
        stem, kind = key.rsplit(".lora_", 1)
        updown = "down" if kind.startswith("A") else "up"
        if stem.startswith("unet.") and stem.endswith("attn1.to_q"):  # attention-processor names
            old[f"{stem[: -len('.to_q')]}.processor.to_q_lora.{updown}.weight"] = value
        elif stem.startswith("unet."):
            old[f"{stem}.lora.{updown}.weight"] = value
        else:
            head, proj = stem.rsplit(".", 1)
            old[f"{head}.{te_old[proj]}.{updown}.weight"] = value
    path = tmp_path / "old-diffusers.safetensors"
    save_file(old, str(path))
    roots = {"unet": ns.unet.unet, "text_encoder": ns.clip.encoders[0]}
    new_t, old_t = (lora_targets(read_lora(p), roots) for p in (fp32_models.paths["lora-sd15-peft"], path))
    assert old_t.unmatched == () and new_t.unmatched == ()
    for part in ("unet", "text_encoder"):
        assert sorted(m for m, _ in old_t.parts[part]) == sorted(m for m, _ in new_t.parts[part])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float8_e4m3fn])
def test_the_patch_adds_in_float32_and_restores_bit_for_bit_in_any_dtype(dtype, monkeypatch):
    g = torch.Generator().manual_seed(4)
    lin = torch.nn.Linear(24, 16).to(dtype)
    before = lin.weight.detach().clone()
    layer = LoraLayer("lora", {"down": torch.randn(3, 24, generator=g).half(), "up": torch.randn(16, 3, generator=g).half()},
                      alpha=1.5)
    expected = (before.float() + 0.7 * 0.5 * (layer.tensors["up"].float() @ layer.tensors["down"].float())).to(dtype)
    warned: list[str] = []
    monkeypatch.setattr(lora_mod.log, "warning", lambda msg, *a: warned.append(msg % a))
    with LoraPatch("x", 0.7, {"unet": (("", layer),)}).applied(lin):
        assert torch.allclose(lin.weight.float(), expected.float(), atol=1e-6 if dtype == torch.float32 else 0)
    assert torch.equal(lin.weight.view(torch.uint8), before.view(torch.uint8))
    # fp8 weights (the fp8_weights setting) take the LoRA with a word in the log: their steps are coarse
    assert bool(warned) == (dtype == torch.float8_e4m3fn)
