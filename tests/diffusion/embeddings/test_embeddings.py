"""Textual-inversion embeddings: prompt syntax, file formats, names, chunking, weights, and parity with
diffusers' ``load_textual_inversion``."""

from __future__ import annotations

import copy
import pickle

import diffusers
import pytest
import torch

from studio.diffusion import prompts
from studio.diffusion.embeddings import EmbeddingError, EmbeddingLibrary, read_embedding
from studio.diffusion.prompts import EmbeddingRef, chunk_prompt, parse_prompt

from .conftest import WIDTH_G, WIDTH_L, vecs


def library(root, bare: bool = True) -> EmbeddingLibrary:
    return EmbeddingLibrary([root], bare_names=bare)


def texts(fragments):
    return [f for f, _ in fragments]


# -- prompt syntax ------------------------------------------------------------------------------------------


def test_parse_embedding_syntax():
    got = parse_prompt("a (embedding:foo:1.2), embedding:bar.pt. embedding:sub/x BREAK y")
    assert texts(got) == ["a ", EmbeddingRef("foo"), ", ", EmbeddingRef("bar.pt"), ". ", EmbeddingRef("sub/x"),
                          None, "y"]
    assert [w for _, w in got][1] == pytest.approx(1.2)
    assert texts(parse_prompt("myembedding:foo")) == ["myembedding:foo"]


def test_bare_words_match_whole_words_only():
    bare = {"easynegativev2", "bad"}
    got = texts(parse_prompt("EasyNegativeV2, lowres, x-EasyNegativeV2, EasyNegativeV2x, bad-hands, (bad:1.1)", bare))
    assert got == [EmbeddingRef("EasyNegativeV2", "EasyNegativeV2"),
                   ", lowres, x-EasyNegativeV2, EasyNegativeV2x, bad-hands, ", EmbeddingRef("bad", "bad")]
    assert texts(parse_prompt("EasyNegativeV2, lowres")) == ["EasyNegativeV2, lowres"]  # no names: plain text


def test_multi_vector_embedding_moves_whole_to_the_next_chunk(encoders):
    tok = encoders.tokenizer
    two = vecs(2, WIDTH_L, 0)
    frags = [("cat " * 74, 1.0), (EmbeddingRef("e"), 1.0), ("dog", 1.0)]
    chunks = chunk_prompt(tok, frags, lookup=lambda ref: two)
    assert len(chunks) == 2
    assert chunks[0].ids[75] == tok.eos_token_id and not chunks[0].vectors  # 74 words, then EOS + pad
    assert sorted(chunks[1].vectors) == [1, 2]
    assert torch.equal(chunks[1].vectors[2], two[1])
    assert tok.eos_token_id not in chunks[1].ids[1:3]
    # Fitting exactly is not moved.
    chunks = chunk_prompt(tok, [("cat " * 73, 1.0), (EmbeddingRef("e"), 1.0)], lookup=lambda ref: two)
    assert len(chunks) == 1 and sorted(chunks[0].vectors) == [74, 75]


# -- files and names ----------------------------------------------------------------------------------------


def test_file_layouts(tmp_path, root):
    folder = root / "embeddings"
    a1111 = read_embedding(folder / "style-a1111.pt")
    assert a1111.vectors == 2 and a1111.tensors[""].dtype == torch.float32
    torch.save({"emb_params": vecs(4, WIDTH_L, 9)}, tmp_path / "plain.pt")
    assert read_embedding(tmp_path / "plain.pt").vectors == 4
    torch.save({"<my-token>": vecs(1, WIDTH_L, 9)[0]}, tmp_path / "learned_embeds.bin")  # diffusers' layout
    assert read_embedding(tmp_path / "learned_embeds.bin").tensors[""].shape == (1, WIDTH_L)
    xl = read_embedding(folder / "xl.safetensors")
    assert {k: tuple(v.shape) for k, v in xl.tensors.items()} == {"clip_l": (2, WIDTH_L), "clip_g": (2, WIDTH_G)}
    assert xl.describe() == "an SDXL embedding"


class _Payload:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['MARK'], 'w').close()",))


def test_a_pickle_with_code_is_refused(tmp_path, monkeypatch):
    mark = tmp_path / "ran"
    monkeypatch.setenv("MARK", str(mark))
    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"string_to_param": {"*": _Payload()}}, protocol=2))
    with pytest.raises(EmbeddingError, match="evil.pt was refused"):
        read_embedding(bad)
    assert not mark.exists()


def test_names_resolve_inside_the_folders_only(root):
    lib = library(root)
    folder = root / "embeddings"
    assert lib.find("One") == folder / "One.safetensors"
    assert lib.find("one") == folder / "One.safetensors"  # case as on disk
    assert lib.find("style-a1111.pt") == folder / "style-a1111.pt"
    assert lib.find("EasyNegativeV2") == folder / "neg" / "EasyNegativeV2.safetensors"  # in a subfolder
    (root / "secret.safetensors").write_bytes((folder / "One.safetensors").read_bytes())
    for hostile in ("../secret", "../secret.safetensors", str(root / "secret.safetensors"), "/etc/passwd"):
        assert lib.load(hostile) is None
    assert len(lib.warnings) == 4 and all("left out of the prompt" in w for w in lib.warnings)
    assert lib.bare_words() == {"one", "easynegativev2", "style-a1111", "xl", "wide"}
    assert library(root, bare=False).bare_words() == set()


# -- encoding -------------------------------------------------------------------------------------------------


def _sd_pipe(encoders):
    return diffusers.StableDiffusionPipeline(
        vae=None, text_encoder=copy.deepcopy(encoders.enc_l), tokenizer=copy.deepcopy(encoders.tokenizer),
        unet=None, scheduler=None, safety_checker=None, feature_extractor=None, requires_safety_checker=False)


@pytest.mark.parametrize(("name", "file"), [("One", "One.safetensors"), ("style-a1111", "style-a1111.pt"),
                                             ("EasyNegativeV2", "neg/EasyNegativeV2.safetensors")])
def test_sd15_matches_diffusers_load_textual_inversion(encoders, root, name, file):
    pipe = _sd_pipe(encoders)
    pipe.load_textual_inversion(str(root / "embeddings" / file), token="tiemb")
    ref, _ = pipe.encode_prompt("a photo of tiemb cat", "cpu", 1, False)
    lib = library(root)
    ours = prompts.encode_prompt(encoders.sd15, f"a photo of embedding:{name} cat", embeddings=lib).embeds
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    n = read_embedding(root / "embeddings" / file).vectors
    assert lib.used == {name: n} and not lib.warnings
    assert lib.summary() == f"embeddings: {name} ({n} vector{'s' if n > 1 else ''})"


def test_sdxl_matches_diffusers_on_both_encoders(encoders, root):
    from safetensors.torch import load_file

    tok_l, tok_g = copy.deepcopy(encoders.tokenizer), copy.deepcopy(encoders.tokenizer)
    pipe = diffusers.StableDiffusionXLPipeline(
        vae=None, text_encoder=copy.deepcopy(encoders.enc_l), text_encoder_2=copy.deepcopy(encoders.enc_g),
        tokenizer=tok_l, tokenizer_2=tok_g, unet=None, scheduler=None, add_watermarker=False)
    state = load_file(str(root / "embeddings" / "xl.safetensors"))
    pipe.load_textual_inversion(state["clip_l"], token="tiemb", text_encoder=pipe.text_encoder, tokenizer=tok_l)
    pipe.load_textual_inversion(state["clip_g"], token="tiemb", text_encoder=pipe.text_encoder_2, tokenizer=tok_g)
    emb, _, pooled, _ = pipe.encode_prompt("a blue tiemb sky", device="cpu", do_classifier_free_guidance=False)
    lib = library(root)
    ours = prompts.encode_prompt(encoders.sdxl, "a blue embedding:xl sky", embeddings=lib)
    assert ours.embeds.shape == emb.shape == (1, 77, WIDTH_L + WIDTH_G)
    torch.testing.assert_close(ours.embeds, emb, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.pooled, pooled, atol=1e-5, rtol=0)
    assert lib.used == {"xl": 2}
    # The refiner's one encoder (OpenCLIP-G) takes clip_g: the G half of the base model's conditioning.
    refined = prompts.encode_prompt(encoders.refiner, "a blue embedding:xl sky", embeddings=library(root))
    torch.testing.assert_close(refined.embeds, ours.embeds[..., WIDTH_L:], atol=1e-6, rtol=0)


def test_unknown_name_is_a_warning_and_its_words_are_dropped(encoders, root):
    lib = library(root)
    got = prompts.encode_prompt(encoders.sd15, "a embedding:nothing_here cat", embeddings=lib).embeds
    assert torch.equal(got, prompts.encode_prompt(encoders.sd15, "a cat").embeds)
    assert len(lib.warnings) == 1 and "nothing_here" in lib.warnings[0]
    assert "left out of the prompt" in lib.warnings[0] and not lib.used


def test_wrong_family_is_skipped_with_a_warning(encoders, root):
    lib = library(root)
    got = prompts.encode_prompt(encoders.sd15, "a embedding:wide cat", embeddings=lib).embeds
    assert torch.equal(got, prompts.encode_prompt(encoders.sd15, "a cat").embeds)  # dropped
    assert len(lib.warnings) == 1 and lib.warnings[0].startswith("embedding wide is an embedding of 64-value")
    assert "left out" in lib.warnings[0] and not lib.used
    # A bare word naming an SD 1.x embedding stays a word for SDXL (A1111 does not see it as one).
    lib = library(root)
    got = prompts.encode_prompt(encoders.sdxl, "One, cat", embeddings=lib)
    plain = prompts.encode_prompt(encoders.sdxl, "One, cat")
    assert torch.equal(got.embeds, plain.embeds) and torch.equal(got.pooled, plain.pooled)
    assert len(lib.warnings) == 1 and "embedding One" in lib.warnings[0] and "sdxl" in lib.warnings[0]
    assert "plain text" in lib.warnings[0] and not lib.used
    # An SDXL file's CLIP-L part fits an SD 1.x encoder (as ComfyUI allows).
    lib = library(root)
    prompts.encode_prompt(encoders.sd15, "embedding:xl", embeddings=lib)
    assert lib.used == {"xl": 2} and not lib.warnings


def test_bare_names_follow_the_setting(encoders, root):
    on = prompts.encode_prompt(encoders.sd15, "EasyNegativeV2, cat", embeddings=library(root)).embeds
    explicit = prompts.encode_prompt(encoders.sd15, "embedding:EasyNegativeV2, cat", embeddings=library(root)).embeds
    assert torch.equal(on, explicit)
    lib = library(root, bare=False)
    off = prompts.encode_prompt(encoders.sd15, "EasyNegativeV2, cat", embeddings=lib).embeds
    assert torch.equal(off, prompts.encode_prompt(encoders.sd15, "EasyNegativeV2, cat").embeds)
    assert not lib.used and not torch.equal(on, off)


def test_emphasis_weights_the_embedding_vectors(encoders, root):
    plain = prompts.encode_prompt(encoders.sd15, "a embedding:style-a1111 cat", embeddings=library(root)).embeds
    strong = prompts.encode_prompt(encoders.sd15, "a (embedding:style-a1111:1.5) cat", embeddings=library(root))
    # BOS, "a", then the embedding's 2 vectors at positions 2 and 3.
    w = torch.ones(1, 77, 1)
    w[0, 2:4] = 1.5
    expected = plain * w
    expected = expected * (plain.mean() / expected.mean())
    torch.testing.assert_close(strong.embeds, expected, atol=1e-6, rtol=1e-5)


def test_shared_tokenizer_and_encoder_are_unchanged(encoders, root):
    tok, enc = encoders.tokenizer, encoders.enc_l
    vocab, table = len(tok), enc.get_input_embeddings().weight.detach().clone()
    prompts.encode_prompt(encoders.sdxl, "embedding:xl, EasyNegativeV2", embeddings=library(root))
    prompts.encode_prompt(encoders.sd15, "(embedding:One:0.5) BREAK EasyNegativeV2", embeddings=library(root))
    assert len(tok) == vocab and enc.config.vocab_size == vocab
    assert torch.equal(enc.get_input_embeddings().weight, table)
    for module in (enc.get_input_embeddings(), encoders.enc_g.get_input_embeddings()):
        assert not module._forward_hooks
    # Plain prompts are encoded as before.
    pipe = _sd_pipe(encoders)
    ref, _ = pipe.encode_prompt("a photo of a cat", "cpu", 1, False)
    assert torch.equal(prompts.encode_prompt(encoders.sd15, "a photo of a cat").embeds, ref)


def test_family_rules_for_each_text_encoder_shape():
    from pathlib import Path

    from studio.diffusion.embeddings import Embedding

    sd1 = Embedding("a", Path("a.pt"), {"": torch.zeros(2, 768)})
    sd2 = Embedding("b", Path("b.pt"), {"": torch.zeros(1, 1024)})
    xl = Embedding("c", Path("c.safetensors"), {"clip_l": torch.zeros(3, 768), "clip_g": torch.ones(3, 1280)})
    assert sd1.for_encoders("sd15", [768]) is not None and sd1.for_encoders("sd2", [1024]) is None
    assert sd2.for_encoders("sd2", [1024]) is not None and sd2.for_encoders("sd15", [768]) is None
    assert sd1.for_encoders("sdxl", [768, 1280]) is None and sd2.for_encoders("sdxl_refiner", [1280]) is None
    l_part, g_part = xl.for_encoders("sdxl", [768, 1280])
    assert l_part.shape == (3, 768) and g_part.shape == (3, 1280)
    [refiner] = xl.for_encoders("sdxl_refiner", [1280])
    assert torch.equal(refiner, g_part)
    assert xl.for_encoders("sd2", [1024]) is None
    assert [e.describe() for e in (sd1, sd2, xl)] == [
        "an SD 1.x embedding (768 values per vector)", "an SD 2.x embedding (1024 values per vector)",
        "an SDXL embedding"]
