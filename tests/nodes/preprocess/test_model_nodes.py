"""Depth, segmentation and pose nodes, run in full on tiny random-weight models loaded from a
models root's annotators/ folder with local_files_only."""

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from nodes.preprocess.depth import depth
from nodes.preprocess.pose import pose
from nodes.preprocess.pose_draw import pose_draw
from nodes.preprocess.segmentation import MODELS as SEGMENTERS
from nodes.preprocess.segmentation import segmentation
from studio.core.context import NodeFailure
from studio.core.executor import Executor
from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.diffusion.annotators.palette import ade20k_palette

from ...helpers import services as run_services


def photo() -> np.ndarray:
    return (data.astronaut()[::2, ::2].astype(np.float32) / 255.0)[None]  # 256 × 256


def test_depth_is_min_max_normalised_with_near_white(model_ctx, annotator_manager):
    from studio.diffusion.annotators.depth import predict_depth
    from studio.diffusion.annotators.detect_resolution import for_detection

    image = photo()
    ctx = model_ctx()
    hint = depth(ctx, image=image, model="depth-anything-v2-small", detect_resolution=0)
    assert hint.shape == image.shape
    g = hint[0, ..., 0]
    assert (hint[..., 0] == hint[..., 2]).all() and g.min() == 0.0 and g.max() == 1.0
    # The hint is a monotone (increasing) function of the model's relative inverse depth: bigger = nearer = whiter.
    ann = next(r.value for k, r in annotator_manager._resident.items() if k[1].endswith("depth-anything-v2-small"))
    raw = predict_depth(ann, for_detection((image[0] * 255 + 0.5).astype(np.uint8), 0))
    order = np.argsort(raw.ravel(), kind="stable")
    assert (np.diff(g.ravel()[order]) >= -1e-6).all()
    assert g.ravel()[raw.argmax()] == 1.0 and g.ravel()[raw.argmin()] == 0.0
    assert any(k == "progress" for k, _ in ctx.recorder.events)


def test_dpt_runs_square_and_the_hint_keeps_the_input_size(model_ctx):
    image = photo()[:, :200]  # 200 × 256
    hint = depth(model_ctx(), image=image, model="dpt-large", detect_resolution=128)
    assert hint.shape == image.shape and hint.min() >= 0.0 and hint.max() <= 1.0


def test_an_annotator_loads_once(model_ctx, annotator_manager):
    depth(model_ctx(), image=photo(), model="depth-anything-v2-small", detect_resolution=128)
    ctx = model_ctx()
    depth(ctx, image=photo(), model="depth-anything-v2-small", detect_resolution=128)
    texts = [d["text"] for k, d in ctx.recorder.events if k == "progress"]
    assert "depth-anything-v2-small already loaded" in texts
    assert sum(p.endswith("depth-anything-v2-small") for _, p, _ in annotator_manager.resident()) == 1


@pytest.mark.parametrize("model", [m for m in SEGMENTERS if m != "segformer-b4-ade"])  # b4: same code as b0
def test_segmentation_paints_only_palette_colours(model_ctx, model):
    image = photo()[:, :200]  # 200 × 256: not square
    hint = segmentation(model_ctx(), image=image, model=model, detect_resolution=128)
    assert hint.shape == image.shape
    colours = np.unique((hint[0] * 255 + 0.5).astype(np.uint8).reshape(-1, 3), axis=0)
    palette = {tuple(c) for c in ade20k_palette().tolist()}
    assert {tuple(c) for c in colours.tolist()} <= palette


def test_pose_outputs_openpose_json_and_draw_reproduces_the_hint(model_ctx):
    image = photo()
    hint, keypoints = pose(model_ctx(), image=image, model="vitpose-base-simple", detect_resolution=256,
                           person_threshold=0.01, keypoint_threshold=0.0, max_people=3)
    assert hint.shape == image.shape
    doc = json.loads(json.dumps(keypoints))  # JSON-able
    assert doc["width"] == 256 and doc["height"] == 256 and 1 <= len(doc["people"]) <= 3
    for person in doc["people"]:
        kp = np.asarray(person["pose_keypoints_2d"]).reshape(18, 3)
        assert kp.shape == (18, 3) and np.isfinite(kp).all() and (kp[:, 2] >= 0).all()
    assert hint.max() > 0
    again = pose_draw(model_ctx(), pose=keypoints, keypoints="", width=0, height=0)
    assert np.array_equal(again, hint)
    from_text = pose_draw(model_ctx(), pose=None, keypoints=json.dumps(keypoints, indent=2), width=0, height=0)
    assert np.array_equal(from_text, hint)


def test_pose_draw_from_hand_written_json_and_errors(make_ctx):
    from nodes.preprocess.pose_draw import EXAMPLE

    out = pose_draw(make_ctx(), pose=None, keypoints=EXAMPLE, width=0, height=0)
    assert out.shape == (1, 512, 512, 3) and out.max() == 1.0
    big = pose_draw(make_ctx(), pose=None, keypoints=EXAMPLE, width=1024, height=1024)
    assert big.shape == (1, 1024, 1024, 3)
    assert np.allclose(big[0, 300, 452], out[0, 150, 226])  # keypoints scale with the canvas (L-shoulder… limb)
    with pytest.raises(NodeFailure, match="not valid JSON"):
        pose_draw(make_ctx(), pose=None, keypoints="{nope", width=0, height=0)
    with pytest.raises(NodeFailure, match="54 numbers"):
        pose_draw(make_ctx(), pose=None, keypoints='{"width": 8, "height": 8, "people": [{"pose_keypoints_2d": [1]}]}',
                  width=0, height=0)


def test_missing_weights_name_the_folder_the_model_and_how_to_get_it(make_ctx, tmp_path):
    from studio.diffusion.model_manager import ModelManager

    root = tmp_path / "empty-models"
    (root / "annotators" / "depth-anything-v2-small").mkdir(parents=True)
    (root / "annotators" / "depth-anything-v2-small" / "config.json").write_text("{}")  # weights missing
    mm = ModelManager(Settings(models_root=str(root)), device="cpu", dtype="fp32", cache_dir=False)
    with pytest.raises(NodeFailure) as err:
        depth(make_ctx(models=mm), image=photo(), model="depth-anything-v2-small", detect_resolution=128)
    msg = str(err.value)
    assert str(root / "annotators" / "depth-anything-v2-small") in msg
    assert "depth-anything/Depth-Anything-V2-Small-hf" in msg
    assert "https://huggingface.co/depth-anything/Depth-Anything-V2-Small-hf" in msg and "model.safetensors" in msg
    with pytest.raises(NodeFailure, match=r"PekingU/rtdetr_r50vd"):
        pose(make_ctx(models=mm), image=photo(), model="vitpose-base-simple", detect_resolution=128,
             person_threshold=0.5, keypoint_threshold=0.3, max_people=1)
    with pytest.raises(NodeFailure, match=r"annotators.oneformer-ade20k-swin-tiny.*shi-labs/oneformer_ade20k_swin_tiny"):
        segmentation(make_ctx(models=mm), image=photo(), model="oneformer-ade20k-swin-tiny", detect_resolution=128)


def test_the_rest_of_the_graph_runs_when_weights_are_missing(tmp_path):
    from studio.diffusion.model_manager import ModelManager

    mm = ModelManager(Settings(models_root=str(tmp_path / "nothing")), device="cpu", dtype="fp32", cache_dir=False)
    sample = Path(__file__).resolve().parents[3] / "resources" / "images" / "sample.png"
    g = Graph(default_registry())
    load = g.add_node("image.load", params={"image": str(sample)})
    dep = g.add_node("preprocess.depth")
    soft = g.add_node("preprocess.softedge", params={"detect_resolution": 256})
    save = g.add_node("image.save", params={"prefix": "soft"})
    g.connect(load.id, "image", dep.id, "image")
    g.connect(load.id, "image", soft.id, "image")
    g.connect(soft.id, "image", save.id, "images")
    summary = Executor().run(g.snapshot(), services=run_services(output_dir=tmp_path, models=mm))
    assert "Depth Anything V2 Small weights not found" in summary.failed[dep.id]
    assert len(summary.outputs) == 1 and Path(summary.outputs[0]).name.startswith("soft")


@pytest.mark.parametrize("name", ["controlnet_depth", "controlnet_pose", "controlnet_segmentation"])
def test_example_workflows_load(name):
    from studio.core.settings import resources_dir
    from studio.core.workflow import load_file

    g = load_file(resources_dir() / "workflows" / f"{name}.json", default_registry())
    types = {n.type_id for n in g.nodes.values()}
    assert {"model.controlnet", "control.apply", "sample.sampler"} <= types
    assert f"preprocess.{name.split('_')[1]}" in types


def test_preprocess_bench_runs_without_models(capsys):
    from bench import preprocess

    assert preprocess.main(["--no-models", "--repeats", "1"]) == 0
    assert "softedge" in capsys.readouterr().out
