"""Shared by the importer tests: the corpus, and a graph seen through ComfyUI's node ids."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from studio.compat.comfyui import NAMESPACE
from studio.core.graph import Graph

CORPUS = Path(__file__).parent / "corpus"
FLOWS = ("txt2img", "controlnet_canny", "two_controlnets", "img2img", "lora", "inpaint", "inpaint_encode", "outpaint",
         "sdxl_refiner", "masks", "latent_ops", "lora_chain", "ip_adapter", "hires_esrgan",
         "tile_upscale", "preprocessors", "core_more", "area_composition", "conditioning_ops", "gligen_boxes",
         "sdxl_prompts", "model_merge", "custom_sampling", "core_ops", "core_ops_images", "model_patches")
# Custom-node-pack flows (corpus/packs/), checked by tests/compat/test_comfyui_packs.py.
PACK_FLOWS = ("packs/rgthree_kj", "packs/efficiency", "packs/pysssss_comfyroll", "packs/was_acn")
# Translators that make more than one node name the others "<ComfyUI id>/<suffix>".
EXTRA_SUFFIXES = ("ipadapter", "clip_vision", "normal",
                  *(f"lora{i}" for i in range(1, 10)), "clip", "clip_skip", "positive", "negative", "latent", "vae",
                  "model", "decode", "preview", "image_b", "resize_source")


def comfy_view(graph: Graph, comfy_ids: list[str]) -> tuple[dict[str, Any], set[tuple[str, str, str, str]]]:
    """Nodes keyed by their ComfyUI id, and links as (src id, port, dst id, port) in ComfyUI ids."""
    back = {str(uuid.uuid5(NAMESPACE, f"node/{cid}")): cid for cid in comfy_ids}
    back |= {str(uuid.uuid5(NAMESPACE, f"node/{cid}/{suffix}")): f"{cid}/{suffix}"
             for cid in comfy_ids for suffix in EXTRA_SUFFIXES}
    assert set(graph.nodes) <= set(back), "a node that no ComfyUI node explains"
    nodes = {back[nid]: n for nid, n in graph.nodes.items()}
    links = {(back[lk.src], lk.src_port, back[lk.dst], lk.dst_port) for lk in graph.links.values()}
    return nodes, links


def ui_node(nid: int, typ: str, widgets: list[Any], inputs: list[tuple[str, str, int | None]] = (),
            outputs: tuple[str, ...] = ("IMAGE",)) -> dict[str, Any]:
    """One node of a ComfyUI UI workflow: its widget values by position, its input links by id."""
    return {"id": nid, "type": typ, "pos": [nid * 250, 0], "size": [240, 90], "flags": {}, "order": nid, "mode": 0,
            "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
            "outputs": [{"name": o, "type": o, "links": []} for o in outputs], "properties": {},
            "widgets_values": widgets}


def ui_workflow(nodes: list[dict[str, Any]], links: list[list[Any]]) -> dict[str, Any]:
    """A ComfyUI UI workflow of these nodes and links."""
    return {"last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes, "links": links, "groups": [],
            "config": {}, "extra": {}, "version": 0.4}


def import_view(doc: dict[str, Any], ids: list[str]) -> tuple[dict[str, Any], set[tuple[str, str, str, str]], list[str]]:
    """Import a ComfyUI document with the default registry: nodes and links in ComfyUI ids, and report lines."""
    from studio.compat import import_comfyui
    from studio.core.registry import default_registry

    graph, report = import_comfyui(doc, default_registry())
    nodes, links = comfy_view(graph, ids)
    return nodes, links, report.lines

