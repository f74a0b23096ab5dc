from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodes.image import load_image, preview_image, save_image, scale_image
from nodes.preprocess.canny import canny
from studio.core.context import NodeFailure
from studio.core.executor import Executor
from studio.core.graph import Graph
from studio.core.pngmeta import PARAMETERS_KEY, WORKFLOW_KEY, read_text_chunks
from studio.core.registry import default_registry
from studio.core.workflow import load_file

from ..helpers import services as run_services

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "images" / "sample.png"


def test_load_png_with_alpha_gives_image_and_mask(make_ctx, tmp_path):
    rgba = np.zeros((6, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :5, 3] = 255  # left half opaque, right half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image, mask = load_image(make_ctx(), image="a.png")
    assert image.shape == (1, 6, 10, 3) and image.dtype == np.float32
    assert image[0, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert mask.shape == (1, 6, 10)
    assert mask[0, :, :5].max() == 0.0 and mask[0, :, 5:].min() == 1.0


def test_load_applies_exif_orientation(make_ctx, tmp_path):
    im = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    im.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    image, mask = load_image(make_ctx(), image="rot.jpg")
    assert image.shape == (1, 40, 20, 3) and not mask.any()


def test_load_webp_and_clear_errors(make_ctx, tmp_path):
    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "x.webp", lossless=True)
    image, _ = load_image(make_ctx(), image="x.webp")
    assert np.allclose(image[0, 0, 0], [10 / 255, 200 / 255, 30 / 255], atol=1e-6)
    with pytest.raises(NodeFailure, match=r"image not found: nope.png; looked in"):
        load_image(make_ctx(), image="nope.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(NodeFailure, match="cannot read image"):
        load_image(make_ctx(), image="broken.png")


def test_canny_on_the_sample_is_a_white_on_black_edge_map(make_ctx):
    image, _ = load_image(make_ctx(search_dirs=[str(SAMPLE.parent)]), image="sample.png")
    edges = canny(make_ctx(), image=image, low=100, high=200, blur=0.0)
    assert edges.shape == image.shape and edges.dtype == np.float32
    assert set(np.unique(edges).tolist()) == {0.0, 1.0}
    assert (edges[..., 0] == edges[..., 1]).all() and (edges[..., 1] == edges[..., 2]).all()
    density = edges[..., 0].mean()
    assert 0.005 < density < 0.15  # edges are thin lines, the background is black
    blurred = canny(make_ctx(), image=image, low=100, high=200, blur=3.0)
    assert blurred[..., 0].mean() < density  # blurring removes fine edges
    stricter = canny(make_ctx(), image=image, low=250, high=255, blur=0.0)
    assert stricter.sum() < edges.sum()


def test_scale_by_size_factor_and_multiple_of_8(make_ctx):
    image = np.random.default_rng(1).random((2, 30, 50, 3), dtype=np.float32)
    out = scale_image(make_ctx(), image=image, mode="size", width=100, height=0, factor=1.0, method="bilinear",
                      multiple_of_8=False)
    assert out.shape == (2, 60, 100, 3)
    out = scale_image(make_ctx(), image=image, mode="factor", width=0, height=0, factor=0.5, method="area",
                      multiple_of_8=True)
    assert out.shape == (2, 16, 24, 3)
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(NodeFailure, match="both be 0"):
        scale_image(make_ctx(), image=image, mode="size", width=0, height=0, factor=1, method="area",
                    multiple_of_8=False)


def test_save_numbers_files_and_never_overwrites(make_ctx, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "pic_00001.png").write_bytes(b"precious")
    ctx = make_ctx()
    image = np.zeros((2, 8, 8, 3), np.float32)
    save_image(ctx, images=image, folder="", prefix="pic", embed_workflow=False)
    assert (out / "pic_00001.png").read_bytes() == b"precious"
    assert sorted(p.name for p in out.iterdir()) == ["pic_00001.png", "pic_00002.png", "pic_00003.png"]
    assert ctx.output_files == [str(out / "pic_00002.png"), str(out / "pic_00003.png")]
    with pytest.raises(NodeFailure, match="may not contain"):
        save_image(ctx, images=image, folder="", prefix="../evil", embed_workflow=False)


def test_saved_png_carries_the_workflow_and_runs_again(tmp_path):
    reg = default_registry()
    g = Graph(reg)
    load = g.add_node("image.load", params={"image": str(SAMPLE)})
    edges = g.add_node("preprocess.canny", params={"low": 80})
    save = g.add_node("image.save", params={"prefix": "embedded"})
    g.connect(load.id, "image", edges.id, "image")
    g.connect(edges.id, "image", save.id, "images")
    summary = Executor().run(g.snapshot(), services=run_services(output_dir=tmp_path))
    assert summary.ok and len(summary.outputs) == 1
    png = Path(summary.outputs[0])
    texts = read_text_chunks(png)
    assert "Canny Edges (low 80, high 200)" in texts[PARAMETERS_KEY]
    again = load_file(png, reg)
    assert set(again.nodes) == set(g.nodes) and again.nodes[edges.id].params["low"] == 80
    assert '"format": "latent-studio.workflow"' in texts[WORKFLOW_KEY]


def test_preview_emits_a_small_uint8_frame(make_ctx):
    ctx = make_ctx()
    preview_image(ctx, images=np.ones((1, 1024, 2048, 3), np.float32))
    kind, data = ctx.recorder.events[-1]
    assert kind == "preview" and data["image"].dtype == np.uint8 and data["image"].shape == (256, 512, 3)


def test_save_options_strip_metadata_and_sidecar(tmp_path):
    reg = default_registry()
    g = Graph(reg)
    load = g.add_node("image.load", params={"image": str(SAMPLE)})
    plain = g.add_node("image.save", params={"prefix": "plain", "strip_metadata": True})
    side = g.add_node("image.save", params={"prefix": "side", "embed_workflow": False, "sidecar_json": True})
    g.connect(load.id, "image", plain.id, "images")
    g.connect(load.id, "image", side.id, "images")
    summary = Executor().run(g.snapshot(), services=run_services(output_dir=tmp_path))
    assert summary.ok
    bare = tmp_path / "plain_00001.png"
    assert read_text_chunks(bare) == {}
    texts = read_text_chunks(tmp_path / "side_00001.png")
    assert WORKFLOW_KEY not in texts and PARAMETERS_KEY in texts  # other tools still read the parameters
    sidecar = tmp_path / "side_00001.json"
    assert load_file(sidecar, reg).nodes.keys() == g.nodes.keys()


@pytest.mark.parametrize("folder", ["/tmp/evil", "../escape", "a/../../escape", "~", "~/evil", "~root/x"])
def test_save_folder_from_a_file_stays_inside_the_output_folder(make_ctx, tmp_path, folder):
    ctx = make_ctx()
    with pytest.raises(NodeFailure, match="folder .* must be a subfolder of the output folder"):
        save_image(ctx, images=np.zeros((1, 8, 8, 3), np.float32), folder=folder, prefix="pic",
                   embed_workflow=False)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert written == []  # nothing created anywhere, not even the output folder


def test_a_relative_subfolder_is_created_inside_the_output_folder(make_ctx, tmp_path):
    ctx = make_ctx()
    save_image(ctx, images=np.zeros((1, 8, 8, 3), np.float32), folder="day/one", prefix="pic",
               embed_workflow=False)
    assert ctx.output_files == [str(tmp_path / "out" / "day" / "one" / "pic_00001.png")]


def test_a_sidecar_never_overwrites_and_keeps_its_number_with_the_png(tmp_path):
    (tmp_path / "pic_00001.png").write_bytes(b"precious")
    (tmp_path / "pic_00002.json").write_text("precious")  # the next PNG name is free, its sidecar's is not
    g = Graph(default_registry())
    load = g.add_node("image.load", params={"image": str(SAMPLE)})
    save = g.add_node("image.save", params={"prefix": "pic", "sidecar_json": True})
    g.connect(load.id, "image", save.id, "images")
    for _ in range(2):
        g.nodes[save.id].params["embed_workflow"] = not g.nodes[save.id].params["embed_workflow"]  # run again
        assert Executor().run(g.snapshot(), services=run_services(output_dir=tmp_path)).ok
    assert (tmp_path / "pic_00001.png").read_bytes() == b"precious"
    assert (tmp_path / "pic_00002.json").read_text() == "precious"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["pic_00001.png", "pic_00002.json", "pic_00003.json", "pic_00003.png",
                     "pic_00004.json", "pic_00004.png"]
    assert load_file(tmp_path / "pic_00004.json", default_registry()).nodes.keys() == g.nodes.keys()


def test_save_never_follows_a_link_at_the_next_name(make_ctx, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    (out / "pic_00001.png").symlink_to(victim)  # dangling: writing through it would create the victim
    ctx = make_ctx()
    save_image(ctx, images=np.zeros((1, 8, 8, 3), np.float32), folder="", prefix="pic", embed_workflow=False)
    assert not victim.exists()
    assert ctx.output_files == [str(out / "pic_00002.png")]


def test_a_prefix_too_long_for_a_file_name_is_a_clean_error(make_ctx, tmp_path):
    ctx = make_ctx()
    with pytest.raises(NodeFailure, match="prefix is 300 bytes"):
        save_image(ctx, images=np.zeros((1, 8, 8, 3), np.float32), folder="", prefix="é" * 150,
                   embed_workflow=False)
    save_image(ctx, images=np.zeros((1, 8, 8, 3), np.float32), folder="", prefix="p" * 240, embed_workflow=False)
    assert Path(ctx.output_files[0]).name == "p" * 240 + "_00001.png"


def test_saved_pngs_appear_only_complete(make_ctx, tmp_path, monkeypatch):
    # The PNG gets its final name only once written in full: a failure part-way leaves nothing there.
    import studio.core.atomic as atomic

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    ctx = make_ctx()
    with pytest.raises(NodeFailure, match="No space left"):
        save_image(ctx, images=np.zeros((1, 8, 8, 3), np.float32), folder="", prefix="pic", embed_workflow=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_load_refuses_an_image_over_the_pixel_budget_before_decoding(make_ctx, tmp_path):
    # 13000 x 13000 black pixels compress to a few hundred KB; decoded they would take gigabytes.
    big = tmp_path / "big.png"
    Image.new("1", (13000, 13000)).save(big, optimize=True)
    assert big.stat().st_size < 2_000_000
    ctx = make_ctx()
    with pytest.raises(NodeFailure, match=r"big\.png is 13000×13000 pixels"):
        load_image(ctx, image="big.png")


# -- the mask file of Load Image ----------------------------------------------------------------------


def _write_mask(path, size, box, value=255):
    """A grey mask picture: ``value`` inside ``box`` (x0, y0, x1, y1), black elsewhere."""
    m = np.zeros(size[::-1], np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = value
    Image.fromarray(m).save(path)


def test_load_takes_its_mask_from_the_mask_file_instead_of_alpha(make_ctx, tmp_path):
    rgba = np.full((6, 10, 4), 255, np.uint8)
    rgba[:, 5:, 3] = 0  # the image's own mask: its right half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    _write_mask(tmp_path / "a_mask.png", (10, 6), (0, 0, 3, 6), value=128)
    image, mask = load_image(make_ctx(), image="a.png", mask="a_mask.png")
    assert image.shape == (1, 6, 10, 3) and mask.shape == (1, 6, 10) and mask.dtype == np.float32
    assert np.allclose(mask[0, :, :3], 128 / 255) and (mask[0, :, 3:] == 0).all()
    _, own = load_image(make_ctx(), image="a.png", mask="")
    assert (own[0, :, 5:] == 1).all() and (own[0, :, :5] == 0).all()  # no mask file: alpha as before


def test_a_mask_file_of_another_size_is_stretched_and_the_run_says_so(make_ctx, tmp_path):
    Image.new("RGB", (20, 10)).save(tmp_path / "a.png")
    _write_mask(tmp_path / "small.png", (10, 5), (5, 0, 10, 5))
    ctx = make_ctx()
    _, mask = load_image(ctx, image="a.png", mask="small.png")
    assert mask.shape == (1, 10, 20)
    assert mask[0, :, :8].max() == 0 and mask[0, :, 12:].min() == 1
    warnings = [d["message"] for kind, d in ctx.recorder.events if kind == "log" and d["level"] == "warning"]
    assert warnings == ["mask small.png is 10×5; stretched to the image's 20×10"]


def test_a_missing_or_broken_mask_file_is_a_clear_error(make_ctx, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(NodeFailure, match=r"mask not found: gone.png; looked in"):
        load_image(make_ctx(), image="a.png", mask="gone.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(NodeFailure, match="cannot read mask"):
        load_image(make_ctx(), image="a.png", mask="bad.png")


def test_the_signature_follows_the_mask_file(tmp_path):
    import os

    _write_mask(tmp_path / "m.png", (512, 512), (0, 0, 100, 100))
    g = Graph(default_registry())
    node = g.add_node("image.load", params={"image": str(SAMPLE)})
    services = run_services(search_dirs=[tmp_path])
    ex = Executor()
    plain = ex.signatures(g.snapshot(), services)[node.id]
    g.set_param(node.id, "mask", "m.png")
    first = ex.signatures(g.snapshot(), services)[node.id]
    assert ex.signatures(g.snapshot(), services)[node.id] == first  # stable while nothing changes
    _write_mask(tmp_path / "m.png", (512, 512), (0, 0, 200, 200))
    st = (tmp_path / "m.png").stat()
    os.utime(tmp_path / "m.png", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second = ex.signatures(g.snapshot(), services)[node.id]
    assert len({plain, first, second}) == 3
    summary = ex.run(g.snapshot(), services=services)
    assert summary.ok and ex.outputs_of(node.id)[1][0, 150, 150] == 1.0


def test_load_image_nodes_saved_before_the_mask_parameter_still_load():
    from studio.core.workflow import document_to_graph

    reg = default_registry()
    assert reg["image.load"].version == "1.1.0"
    doc = {"format": "latent-studio.workflow", "version": 1,
           "nodes": [{"id": "a", "type": "image.load", "version": "1.0.0", "params": {"image": str(SAMPLE)}}],
           "links": []}
    g = document_to_graph(doc, reg)
    assert g.nodes["a"].params == {"image": str(SAMPLE), "mask": ""}
    assert g.validate() == []
    assert Executor().run(g.snapshot(), services=run_services()).ok
