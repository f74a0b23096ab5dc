"""Paint by Example: loading from the model folders, and parity with diffusers' PaintByExamplePipeline."""

from __future__ import annotations

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.context import CancelToken, NodeContext, NodeFailure
from studio.core.imaging import from_uint8, to_uint8
from studio.core.settings import Settings
from studio.diffusion import paint_by_example as pbe
from studio.diffusion import schedulers
from studio.diffusion.errors import ModelError
from studio.diffusion.model_manager import ModelManager
from studio.diffusion.sampling import sample

from ...helpers import services as run_services
from .conftest import SCHEDULER, processor

SEED = 1234
STEPS = 4
CFG = 5.0
PARITY = [("euler", "normal"), ("ddim", "normal"), ("dpmpp_2m", "normal"), ("dpmpp_2m", "karras"),
          ("heun", "normal"), ("uni_pc", "normal")]


@pytest.fixture(scope="module")
def manager(tiny_pbe):
    return ModelManager(Settings(models_root=str(tiny_pbe.root)), device="cpu", dtype="fp32", cache_dir=False)


@pytest.fixture(scope="module")
def loaded(tiny_pbe, manager):
    return pbe.load(manager, tiny_pbe.name)


def _images(batch: int = 1):
    """8-bit pictures as IMAGE arrays (what Load Image gives), a mask with a block and a stroke thinner
    than a latent cell, and example pictures at another size than the image."""
    rng = np.random.default_rng(7)
    image = from_uint8(rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8))
    example = from_uint8(rng.integers(0, 256, (batch, 40, 48, 3), dtype=np.uint8))
    mask = np.zeros((batch, 64, 64), np.float32)
    mask[:, 16:48, 8:40] = 1.0
    mask[:, 3:5, 50:61] = 0.8  # above 0.5: repainted
    mask[:, 50:60, 50:60] = 0.3  # below 0.5: kept
    return image, mask, example


def _pipeline(ns, sampler: str, scheduler: str):
    # The fixture's own modules (not what our loader built) and a processor with the saved settings.
    pipe = diffusers.PaintByExamplePipeline(
        vae=ns.vae, image_encoder=ns.encoder, unet=ns.unet, feature_extractor=processor(), safety_checker=None,
        scheduler=schedulers.make_scheduler(sampler, scheduler, SCHEDULER),
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _reference(ns, sampler, scheduler, image, mask, example, *, output_type="latent", cfg=CFG):
    pipe = _pipeline(ns, sampler, scheduler)
    pixels = torch.from_numpy(image).permute(0, 3, 1, 2) * 2 - 1
    examples = [Image.fromarray(f) for f in to_uint8(example)]
    return pipe(example_image=examples, image=pixels, mask_image=torch.from_numpy(mask)[:, None],
                num_inference_steps=STEPS, guidance_scale=cfg, generator=torch.Generator("cpu").manual_seed(SEED),
                output_type=output_type).images


def _ours(model, sampler, scheduler, image, mask, example, *, cfg=CFG):
    positive, negative, latent = pbe.conditioning(model, image, mask, example, seed=SEED)
    return sample(model.unet, positive, negative, latent, seed=SEED, steps=STEPS, cfg=cfg, sampler=sampler,
                  scheduler=scheduler).samples


def _diff(a, b) -> float:
    a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
    assert a.shape == b.shape
    return float((a - b).abs().max())


# --- loading --------------------------------------------------------------------------------------


def test_loads_the_folder_from_the_checkpoints_folder_as_sd15(tiny_pbe, manager, loaded):
    assert loaded.family == "sd15" and loaded.unet.family == "sd15" and loaded.vae.family == "sd15"
    assert loaded.unet.unet.config.in_channels == 9
    assert loaded.unet.scheduler_config["_class_name"] == "PNDMScheduler"
    assert loaded.source == str(tiny_pbe.folder)
    # The weights are the saved ones, uncond_vector included.
    assert torch.equal(loaded.image_encoder.uncond_vector, tiny_pbe.encoder.uncond_vector)
    ours, theirs = loaded.unet.unet.state_dict(), tiny_pbe.unet.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert loaded.feature_extractor.crop_size == {"height": 32, "width": 32}


def test_the_model_manager_keeps_it_and_counts_its_bytes(tiny_pbe, manager, loaded):
    assert pbe.load(manager, tiny_pbe.name) is loaded
    (entry,) = [r for r in manager.resident() if r[1] == str(tiny_pbe.folder.resolve())]
    weights = sum(p.numel() * p.element_size() for m in (tiny_pbe.unet, tiny_pbe.vae, tiny_pbe.encoder) for p in m.parameters())
    assert entry[2] >= weights


@pytest.mark.parametrize("name", ["../checkpoints/tiny-paint-by-example", "a/../../tiny-paint-by-example"])
def test_names_that_leave_the_model_folders_are_refused(manager, name):
    with pytest.raises(ModelError, match="leaves the model folder"):
        pbe.load(manager, name)


def test_the_node_reports_a_name_outside_the_folders_before_running(tiny_pbe):
    from nodes.paint_by_example import paint_by_example

    svc = run_services(settings=Settings(models_root=str(tiny_pbe.root)))
    assert list(paint_by_example.check({"model": tiny_pbe.name}, svc)) == []
    ((param, message),) = paint_by_example.check({"model": "../../etc"}, svc)
    assert param == "model" and "leaves the model folder" in message


def test_other_models_are_refused_with_a_clear_message(manager):
    with pytest.raises(ModelError, match="sd-folder is not a Paint-by-Example model: its model_index.json "
                                         "names StableDiffusionPipeline"):
        pbe.load(manager, "sd-folder")
    with pytest.raises(ModelError, match="single.safetensors is a single file; Paint-by-Example needs"):
        pbe.load(manager, "single.safetensors")
    with pytest.raises(ModelError, match="not found: missing"):
        pbe.load(manager, "missing")


def test_a_folder_missing_a_component_is_refused(tmp_path, tiny_pbe):
    import shutil

    broken = tmp_path / "checkpoints" / "broken"
    shutil.copytree(tiny_pbe.folder, broken, ignore=shutil.ignore_patterns("image_encoder"))
    with pytest.raises(ModelError, match="lacks image_encoder/"):
        pbe.load_folder(broken, device="cpu", dtype=torch.float32)


# --- preprocessing and parity with the pipeline ---------------------------------------------------


def test_mask_is_inverted_and_binarised_as_the_pipeline_does():
    from diffusers.pipelines.deprecated.paint_by_example.pipeline_paint_by_example import (
        prepare_mask_and_masked_image,
    )

    image, mask, _ = _images()
    keep, masked = pbe.mask_and_masked_image(image, mask)
    ref_keep, ref_masked = prepare_mask_and_masked_image(torch.from_numpy(image).permute(0, 3, 1, 2) * 2 - 1,
                                                         torch.from_numpy(mask)[:, None])
    assert torch.equal(keep, ref_keep) and torch.equal(masked, ref_masked)
    assert keep[0, 0, 20, 20] == 0 and keep[0, 0, 4, 55] == 0 and keep[0, 0, 55, 55] == 1  # 1 = keep
    assert float(masked[0, :, 20, 20].abs().max()) == 0.0


@pytest.mark.parametrize(("sampler", "scheduler"), PARITY, ids=[f"{s}-{k}" for s, k in PARITY])
def test_latents_match_paint_by_example_pipeline(tiny_pbe, loaded, sampler, scheduler):
    image, mask, example = _images()
    ref = _reference(tiny_pbe, sampler, scheduler, image, mask, example)
    ours = _ours(loaded, sampler, scheduler, image, mask, example)
    assert _diff(ours, ref) <= 1e-4


def test_batches_and_no_guidance_match_the_pipeline(tiny_pbe, loaded):
    image, mask, example = _images(batch=2)
    for cfg in (CFG, 1.0):
        ref = _reference(tiny_pbe, "ddim", "normal", image, mask, example, cfg=cfg)
        assert _diff(_ours(loaded, "ddim", "normal", image, mask, example, cfg=cfg), ref) <= 1e-4


def test_the_example_and_the_mask_matter(loaded):
    # Otherwise the parity above could hold for a model that ignores them.
    image, mask, example = _images()
    base = _ours(loaded, "euler", "normal", image, mask, example)
    assert _diff(base, _ours(loaded, "euler", "normal", image, mask, example[:, ::-1].copy())) > 1e-3
    other = mask.copy()
    other[:, 40:60, 0:20] = 1.0
    assert _diff(base, _ours(loaded, "euler", "normal", image, other, example)) > 1e-3


# --- the node -------------------------------------------------------------------------------------


def _ctx(manager, events: list) -> NodeContext:
    return NodeContext(node_id="n1", title="Paint by Example", run_id=1, cancel=CancelToken(),
                       emit=lambda kind, data: events.append((kind, data)), services=run_services(models=manager))


def test_node_output_matches_the_pipeline_image(tiny_pbe, manager):
    from nodes.paint_by_example import paint_by_example

    image, mask, example = _images()
    ref = _reference(tiny_pbe, "dpmpp_2m", "karras", image, mask, example, output_type="np")
    events: list = []
    out = paint_by_example(_ctx(manager, events), model=tiny_pbe.name, image=image, mask=mask, example=example,
                           seed=SEED, steps=STEPS, cfg=CFG, sampler="dpmpp_2m", scheduler="karras")
    assert out.dtype == np.float32 and out.shape == (1, 64, 64, 3)
    assert _diff(out, ref) <= 1e-3
    assert sum(1 for kind, _ in events if kind == "progress") >= STEPS


def test_node_stretches_the_mask_and_crops_to_multiples_of_8(tiny_pbe, manager):
    from nodes.paint_by_example import paint_by_example

    image, mask, example = _images()
    events: list = []
    out = paint_by_example(_ctx(manager, events), model=tiny_pbe.name, image=image[:, :61, :58], mask=mask[:, ::2, ::2],
                           example=example, seed=SEED, steps=1, cfg=CFG, sampler="euler", scheduler="normal")
    assert out.shape == (1, 56, 56, 3)
    warnings = " ".join(str(data) for kind, data in events if kind == "log")
    assert "stretched" in warnings and "centre-cropped to 56×56" in warnings


def test_node_refuses_batches_that_do_not_fit(tiny_pbe, manager):
    from nodes.paint_by_example import paint_by_example

    image, mask, example = _images(batch=2)
    with pytest.raises(NodeFailure, match="do not fit together"):
        paint_by_example(_ctx(manager, []), model=tiny_pbe.name, image=image, mask=mask, example=np.concatenate(
            [example, example[:1]]), seed=SEED, steps=1, cfg=CFG, sampler="euler", scheduler="normal")


def test_pickled_weights_are_refused_unless_allowed(tmp_path, tiny_pbe):
    import shutil

    folder = tmp_path / "checkpoints" / "pickled"
    shutil.copytree(tiny_pbe.folder, folder)
    (folder / "image_encoder" / "model.safetensors").unlink()
    torch.save(tiny_pbe.encoder.state_dict(), folder / "image_encoder" / "pytorch_model.bin")
    with pytest.raises(ModelError, match=r"image_encoder/ has only pickled weights \(pytorch_model.bin\)"):
        pbe.load_folder(folder, device="cpu", dtype=torch.float32)
    model = pbe.load_folder(folder, device="cpu", dtype=torch.float32, allow_ckpt=True)
    assert torch.equal(model.image_encoder.uncond_vector, tiny_pbe.encoder.uncond_vector)
    (folder / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelError, match="no weights file in vae/"):
        pbe.load_folder(folder, device="cpu", dtype=torch.float32, allow_ckpt=True)
