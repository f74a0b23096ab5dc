"""The prompt nodes with embeddings: what they report, their cache signature, the model manager's cache,
and the random embedding files the bench writes beside the tiny checkpoints."""

from __future__ import annotations

import os

import pytest
import torch

from nodes.conditioning import embeddings_fingerprint, encode
from nodes.conditioning_refiner import encode_refiner
from studio.core.context import CancelToken, NodeContext
from studio.core.settings import Settings
from studio.diffusion.embeddings import read_embedding
from studio.diffusion.model_manager import ModelManager
from tests.helpers import services

from .conftest import WIDTH_G, vecs


def context(root, *, bare: bool = True, models=None):
    events: list[tuple[str, dict]] = []
    settings = Settings(models_root=str(root), bare_embedding_names=bare)
    ctx = NodeContext(node_id="n", title="Encode Prompt", run_id=1, cancel=CancelToken(),
                      emit=lambda kind, data: events.append((kind, data)),
                      services=services(settings=settings, models=models))
    return ctx, events


def logs(events, level):
    return [d["message"] for k, d in events if k == "log" and d["level"] == level]


def test_text_node_reports_embeddings_and_unknown_names(encoders, root):
    ctx, events = context(root)
    cond = encode(ctx, clip=encoders.sd15, text="EasyNegativeV2, (embedding:style-a1111.pt:1.1), embedding:missing, lowres")
    assert cond.embeds.shape == (1, 77, 32)
    assert logs(events, "info") == ["embeddings: EasyNegativeV2 (3 vectors), style-a1111 (2 vectors)"]
    [warning] = logs(events, "warning")
    assert "missing" in warning and "left out of the prompt" in warning


def test_refiner_node_uses_clip_g(encoders, root):
    ctx, events = context(root)
    cond = encode_refiner(ctx, clip=encoders.refiner, ascore=6.0, width=1024, height=1024,
                          text="a photo, embedding:xl")
    assert cond.embeds.shape == (1, 77, WIDTH_G) and cond.extras["aesthetic_score"] == 6.0
    assert logs(events, "info") == ["embeddings: xl (2 vectors)"] and not logs(events, "warning")


def test_fingerprint_follows_the_embedding_files_and_the_setting(root):
    assert encode.fingerprint is embeddings_fingerprint and encode_refiner.fingerprint is embeddings_fingerprint

    def fp(text, bare=True):
        return embeddings_fingerprint({"text": text}, services(settings=Settings(models_root=str(root),
                                                                                 bare_embedding_names=bare)))

    assert fp("a cat", bare=False) is None  # nothing to watch: no embedding can be named
    first = fp("a cat")
    assert first == fp("a cat") and fp("embedding:x", bare=False) not in (None, first)
    from safetensors.torch import save_file

    new = root / "embeddings" / "New.safetensors"
    save_file({"emb_params": vecs(1, 32, 7)}, str(new))
    second = fp("a cat")
    assert second != first
    save_file({"emb_params": vecs(2, 32, 7)}, str(new))  # changed in place
    os.utime(new, ns=(1, 1))
    assert fp("a cat") not in (first, second)


def test_model_manager_caches_parsed_embeddings(root):
    mm = ModelManager(Settings(models_root=str(root)), device="cpu", dtype="fp32", cache_dir=False)
    path = root / "embeddings" / "style-a1111.pt"
    first = mm.load_embedding(path)
    assert mm.load_embedding(path) is first
    assert [(kind, n) for kind, _, n in mm.resident()] == [("embedding", first.nbytes)]
    assert first.vectors == 2


@pytest.mark.parametrize(("family", "key", "vectors"), [("sd15", "embedding-sd15-pt", 2),
                                                        ("sd15", "embedding-sd15", 1),
                                                        ("sdxl", "embedding-sdxl", 2)])
def test_bench_embeddings_work_with_the_tiny_checkpoints(tiny, tiny_root, family, key, vectors):
    path = tiny.paths[key]
    assert path.parent == tiny_root / "embeddings"
    emb = read_embedding(path)
    for name, ref in tiny.reference[key].items():
        assert torch.equal(emb.tensors["" if name == "emb_params" else name], ref.float())
    mm = ModelManager(Settings(models_root=str(tiny_root)), device="cpu", dtype="fp32", cache_dir=False)
    _, clip, _ = mm.load_checkpoint(tiny.paths[f"checkpoint-{family}"])
    ctx, events = context(tiny_root, models=mm)
    with_emb = encode(ctx, clip=clip, text=f"a photo, embedding:{path.stem}")
    assert logs(events, "info") == [f"embeddings: {path.stem} ({vectors} vector{'s' if vectors > 1 else ''})"]
    assert not logs(events, "warning")
    assert not torch.equal(with_emb.embeds, encode(context(tiny_root)[0], clip=clip, text="a photo, ").embeds)
