"""A1111's ``parameters`` text → an equivalent graph: txt2img, hires fix, img2img, inpainting,
ControlNet units.

Files the text only names (checkpoint, ControlNet models) get guessed file names; images it used
(img2img input, inpainting mask, ControlNet images) are not in the text, so Load Image nodes are left
for the user.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from studio.core.graph import Graph, Link, Node
from studio.core.registry import Registry

from .a1111_networks import network_tags, strip_tags
from .a1111_text import Parameters, parse_parameters
from .a1111_upscalers import upscaler_files
from .jsonsafe import Reader
from .layout import auto_layout
from .names import A1111_AUTO_KARRAS, A1111_SAMPLERS, A1111_SCHEDULES, sampler_pair
from .report import ImportReport

NAMESPACE = uuid.UUID("0f4e9c3a-52b1-4d7e-8a0c-9b6f2e1d7c55")
MAX_TEXT = 1024 * 1024
# A tag ends at the first ">"; it never holds a "<", so a text full of unclosed tags is scanned once.
_MODEL_HASH_SUFFIX = re.compile(r"\[[0-9a-fA-F]+\]\Z")
# sd-webui-controlnet's resize modes: the names of its three generations and its API's numbers → what it
# does with a hint whose aspect ratio is not the output's. Ours stretches the hint ("Just Resize").
_RESIZE_MODES = {"just resize": "stretch", "resize": "stretch", "0": "stretch",
                 "crop and resize": "crop", "scale to fit (inner fit)": "crop", "inner fit": "crop", "1": "crop",
                 "resize and fill": "fill", "envelope (outer fit)": "fill", "outer fit": "fill", "2": "fill"}
_HINT_NOTES = {
    "crop": ("ControlNet hints are stretched to the output size (A1111's 'Crop and Resize' crops them to the "
             "output's aspect ratio first): crop hint images to the output's shape for the same result"),
    "fill": ("ControlNet hints are stretched to the output size (A1111's 'Resize and Fill' fits them inside the "
             "output and fills the border): pad hint images to the output's shape for the same result"),
}
_HEX = re.compile(r"[0-9a-fA-F]{1,64}")
# What A1111 writes for an img2img run with a mask (older and newer names of the same settings).
INPAINT_KEYS = ("Mask blur", "Inpaint area", "Masked content", "Inpainting fill", "Mask mode", "Masked area padding")
_FILLS = {"fill": "fill", "0": "fill", "original": "original", "1": "original", "latent noise": "latent noise",
          "2": "latent noise", "latent nothing": "latent nothing", "3": "latent nothing"}
_FILL_NOTES = {
    "fill": "A1111 fills it with the colours around it",
    "latent noise": "A1111 fills its latent with fresh noise",
    "latent nothing": "A1111 starts its latent at zero",
}
# A1111 binarises a mask picture at "above 128 of 255": between 128/255 and 129/255.
_MASK_CUT = 0.502
# A1111 ≥ 1.6 blurs with σ = mask blur; our Feather Mask reaches 3σ.
_SIGMAS_PER_RADIUS = 3
# A1111 preprocessor (module) name prefix → our node type; checked in order
_MODULES: tuple[tuple[str, str], ...] = (
    ("canny", "preprocess.canny"), ("depth", "preprocess.depth"), ("dw_openpose", "preprocess.pose"),
    ("openpose", "preprocess.pose"), ("seg_", "preprocess.segmentation"), ("lineart", "preprocess.lineart"),
    ("softedge", "preprocess.softedge"), ("hed", "preprocess.softedge"), ("pidinet", "preprocess.softedge"),
    ("scribble", "preprocess.scribble"), ("fake_scribble", "preprocess.scribble"), ("mlsd", "preprocess.mlsd"),
    ("tile", "preprocess.tile"), ("blur_gaussian", "preprocess.tile"), ("invert", "preprocess.invert"),
    ("normal", "preprocess.normal_from_depth"),
)


def import_a1111(text: Any, registry: Registry, *, source: str | None = None,
                 find_model: Callable[[str, Sequence[str]], str | None] | None = None) -> tuple[Graph, ImportReport]:
    """An A1111 ``parameters`` text → (graph, report). Raises WorkflowError for unusable text.
    ``find_model(kind, names)`` says which of ``names`` is installed (hires upscale models)."""
    r = Reader(source)
    text = r.text(text, "$")
    if len(text) > MAX_TEXT:
        raise r.fail("$", f"parameters text is longer than {MAX_TEXT // 1024} KiB")
    if not text.strip():
        raise r.fail("$", "the parameters text is empty")
    params = parse_parameters(text)
    report = ImportReport("A1111 parameters")
    graph = _Build(params, registry, report, r, find_model).build()
    return graph, report


class _Build:
    def __init__(self, p: Parameters, registry: Registry, report: ImportReport, r: Reader,
                 find_model: Callable[[str, Sequence[str]], str | None] | None = None) -> None:
        self.p, self.report, self.r, self.find_model = p, report, r, find_model
        self.graph = Graph(registry)
        self.v = p.values

    # -- values ---------------------------------------------------------------------------------
    def number(self, key: str, default: float) -> float:
        raw = self.v.get(key)
        if raw is None:
            return default
        try:
            value = float(raw.strip())
        except ValueError:
            raise self.r.fail(f"$ ({key})", f"expected a number, found {raw[:40]!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise self.r.fail(f"$ ({key})", f"expected a number, found {raw[:40]!r}")
        return value

    def whole(self, key: str, default: int) -> int:
        value = self.number(key, default)
        if value != int(value) or abs(value) > 2**64:
            raise self.r.fail(f"$ ({key})", f"expected a whole number, found {self.v[key][:40]!r}")
        return int(value)

    def size(self, key: str, default: tuple[int, int]) -> tuple[int, int]:
        raw = self.v.get(key)
        if raw is None:
            return default
        m = re.fullmatch(r"\s*(\d{1,5})\s*x\s*(\d{1,5})\s*", raw)
        if not m:
            raise self.r.fail(f"$ ({key})", f"expected WIDTHxHEIGHT, found {raw[:40]!r}")
        return int(m.group(1)), int(m.group(2))

    # -- nodes ----------------------------------------------------------------------------------
    def add(self, role: str, type_id: str, params: dict[str, Any] | None = None, title: str | None = None) -> str:
        nt = self.graph.registry.get(type_id)
        params = dict(params or {})
        if nt is not None:
            for name, value in list(params.items()):
                decl = nt.input(name)
                if decl is not None and isinstance(value, int | float) and not isinstance(value, bool):
                    lo = decl.min if decl.min is not None else value
                    hi = decl.max if decl.max is not None else value
                    if not lo <= value <= hi:
                        clamped = type(value)(min(max(value, lo), hi))
                        self.report.approximated(f"{title or nt.title}: {name} {value:g} is outside our range; "
                                                 f"using {clamped:g}")
                        params[name] = clamped
        node_id = str(uuid.uuid5(NAMESPACE, role))
        if nt is None:
            self.report.unmapped(f"{title or type_id}: node type {type_id} is not installed; kept as a placeholder")
            node = Node(node_id, type_id, "1.0.0", params, title=title)
            self.graph.insert_node(node)
            return node_id
        return self.graph.add_node(type_id, params=params, node_id=node_id, title=title).id

    def link(self, src: str, src_port: str, dst: str, dst_port: str) -> None:
        node = self.graph.nodes[src]
        if self.graph.registry.get(node.type_id) is None:
            node.placeholder_outputs = tuple(dict.fromkeys([*node.placeholder_outputs, src_port]))
        node = self.graph.nodes[dst]
        if self.graph.registry.get(node.type_id) is None:
            node.placeholder_inputs = tuple(dict.fromkeys([*node.placeholder_inputs, dst_port]))
        self.graph.insert_link(Link(src, src_port, dst, dst_port))

    # -- the graph ------------------------------------------------------------------------------
    def build(self) -> Graph:
        p, v = self.p, self.v
        if not v:
            self.report.info("no generation settings found: only the prompt was read; defaults fill the rest")
        ckpt = self.add("checkpoint", "model.checkpoint", {"checkpoint": self.model_file()})
        vae_src = (ckpt, "vae")
        if v.get("VAE"):
            vae_name = v["VAE"].strip()
            vae = self.add("vae", "model.vae", {"vae": vae_name if "." in vae_name else vae_name + ".safetensors"})
            vae_src = (vae, "vae")
            self.report.approximated(f"VAE file name guessed from 'VAE: {vae_name}'")
        model_src, clip_src = self.loras((ckpt, "model"), (ckpt, "clip"))
        clip_skip = self.whole("Clip skip", 1)
        if clip_skip > 1:
            skip = self.add("clip_skip", "model.clip_skip", {"skip": clip_skip - 1})
            self.link(*clip_src, skip, "clip")
            clip_src = (skip, "clip")
        positive = self.add("positive", "text.encode", {"text": self.prompt(p.prompt)}, "Prompt")
        negative = self.add("negative", "text.encode", {"text": self.prompt(p.negative)}, "Negative prompt")
        for enc in (positive, negative):
            self.link(*clip_src, enc, "clip")
        cond: tuple[tuple[str, str], ...] = ((positive, "conditioning"), (negative, "conditioning"))

        width, height = self.size("Size", (512, 512))
        hires = any(k in v for k in ("Hires upscale", "Hires resize", "Hires upscaler"))
        img2img = "Denoising strength" in v and not hires
        init_image: tuple[str, str] | None = None
        overlay: tuple[tuple[str, str], tuple[str, str]] | None = None  # (original picture, mask) to paste onto
        if img2img:
            load = self.add("init_image", "image.load", {"image": ""}, "Input image")
            scale = self.add("init_scale", "image.scale", {"mode": "size", "width": width, "height": height,
                                                           "method": "lanczos"})
            self.link(load, "image", scale, "image")
            init_image = (load, "image")
            self.report.info("image-to-image: choose the input image in the 'Input image' node (the text does "
                             "not carry it); it is resized to the recorded size")
            if any(k in v for k in INPAINT_KEYS):
                latent, overlay = self.inpaint((scale, "image"), vae_src)
            else:
                encode = self.add("init_encode", "latent.vae_encode")
                self.link(scale, "image", encode, "image")
                self.link(*vae_src, encode, "vae")
                latent = (encode, "latent")
        else:
            if any(k in v for k in INPAINT_KEYS if k != "Mask blur"):
                self.report.unmapped("inpainting settings without an image-to-image run (no denoising strength, or "
                                     "a hires fix) are not carried over")
            elif "Mask blur" in v:  # a leftover of the form, not a sign of inpainting: no mask was used
                self.report.info(f"'Mask blur: {v['Mask blur'][:20]}' without an image-to-image run has no effect; "
                                 "ignored")
            empty = self.add("latent", "latent.empty", {"width": width, "height": height,
                                                        "batch": self.whole("Batch size", 1)})
            latent = (empty, "latent")

        cond = self.controlnets(cond, init_image)
        sampler_params = self.sampler_params("Sampler", "Schedule type")
        sampler_params["steps"] = self.whole("Steps", 20)
        sampler_params["denoise"] = self.number("Denoising strength", 1.0) if img2img else 1.0
        smp = self.sampler("sampler", sampler_params, model_src, cond, latent)
        out = (smp, "latent")
        if hires:
            out = self.hires(out, sampler_params, model_src, cond, vae_src, (width, height))
        decode = self.add("decode", "latent.vae_decode")
        self.link(*out, decode, "latent")
        self.link(*vae_src, decode, "vae")
        image = (decode, "image")
        if overlay is not None:
            image = self.paste_back(image, *overlay)
        save = self.add("save", "image.save", {"prefix": "a1111"})
        self.link(*image, save, "images")
        self.notes_unused()
        auto_layout(self.graph)
        return self.graph

    def model_file(self) -> str:
        name = (self.v.get("Model") or "").strip()
        if not name:
            self.report.unmapped("no 'Model:' in the text: choose the checkpoint in Load Checkpoint")
            return ""
        file = name if name.lower().endswith((".safetensors", ".ckpt")) else f"{name}.safetensors"
        digest = (self.v.get("Model hash") or "").strip()
        digest = digest if _HEX.fullmatch(digest) else ""  # a hash, or nothing: never the text after it
        self.report.approximated(f"checkpoint file name guessed from 'Model: {name}'"
                                 + (f" (hash {digest})" if digest else ""))
        return file

    def prompt(self, text: str) -> str:
        return strip_tags(text)  # the tags become nodes (see ``loras``)

    def loras(self, model: tuple[str, str], clip: tuple[str, str]) -> tuple[tuple[str, str], tuple[str, str]]:
        """A Load LoRA node per ``<lora:…>``/``<lyco:…>`` tag of the prompt, chained from the checkpoint;
        returns the model and CLIP to use after them. A1111 reads these tags in the positive prompt
        only (in the negative one they are encoded as words); they are removed from both here."""
        for tag in network_tags(self.p.negative):
            self.report.dropped(f"negative prompt tag {tag.text}: A1111 applies no network named in the negative "
                                "prompt (it encodes the tag as words); removed")
        seen: set[str] = set()
        for tag in network_tags(self.p.prompt):
            if tag.kind == "hypernet":
                self.report.unmapped(f"prompt tag {tag.text}: hypernetworks are not supported; removed from the "
                                     "prompt")
                continue
            if tag.problem is not None:
                self.report.dropped(f"prompt tag {tag.text}: {tag.problem}; removed from the prompt")
                continue
            if tag.name.lower() in seen:
                self.report.dropped(f"prompt tag {tag.text}: {tag.name} is already applied by an earlier tag")
                continue
            seen.add(tag.name.lower())
            file = tag.name if tag.name.lower().endswith((".safetensors", ".pt", ".ckpt")) else f"{tag.name}.safetensors"
            node = self.add(f"lora/{len(seen)}", "model.lora",
                            {"lora": file, "strength_model": tag.unet, "strength_clip": tag.te}, f"LoRA {tag.name}")
            self.link(*model, node, "model")
            self.link(*clip, node, "clip")
            model, clip = (node, "model"), (node, "clip")
            self.report.approximated(f"prompt tag {tag.text} → Load LoRA {file} (model {tag.unet:g}, CLIP "
                                     f"{tag.te:g}); the file name is guessed from the tag")
        self.note_embeddings()
        return model, clip

    def note_embeddings(self) -> None:
        """A1111 records the embeddings a prompt used as 'TI hashes'; here they are found by the same
        bare words in ``embeddings/`` (Preferences: bare embedding names)."""
        for item in (self.v.get("TI hashes") or "").split(","):
            name, _, digest = item.strip().strip('"').partition(":")
            if name.strip():
                self.report.info(f"the prompts use the embedding {name.strip()} (hash {digest.strip() or '?'}): put "
                                 "its file in embeddings/ under that name")

    def sampler_params(self, sampler_key: str, schedule_key: str) -> dict[str, Any]:
        label = (self.v.get(sampler_key) or "Euler a").strip()
        base, schedule = label, self.v.get(schedule_key, "").strip()
        for suffix in (" Karras", " Exponential", " Uniform", " SGM Uniform", " Simple", " Normal", " Beta"):
            if label.endswith(suffix) and label[:-len(suffix)].lower() in A1111_SAMPLERS:
                base, schedule = label[:-len(suffix)], suffix.strip()
                break
        if schedule.lower() == "automatic" and base.lower() in A1111_AUTO_KARRAS:
            schedule = "Karras"  # A1111 1.9+ picks Karras for these by default
        sampler, scheduler = sampler_pair(base, schedule or "normal", self.report, f"{sampler_key} {label!r}",
                                          samplers=A1111_SAMPLERS, schedulers=A1111_SCHEDULES)
        return {"seed": max(0, self.whole("Seed", 0)), "cfg": self.number("CFG scale", 7.0), "sampler": sampler,
                "scheduler": scheduler}

    def sampler(self, role: str, params: dict[str, Any], model: tuple[str, str], cond: tuple[tuple[str, str], ...],
                latent: tuple[str, str]) -> str:
        smp = self.add(role, "sample.sampler", params, "Sampler" if role == "sampler" else "Hires sampler")
        self.link(*model, smp, "model")
        self.link(*cond[0], smp, "positive")
        self.link(*cond[1], smp, "negative")
        self.link(*latent, smp, "latent")
        return smp

    def hires(self, first: tuple[str, str], params: dict[str, Any], model: tuple[str, str],
              cond: tuple[tuple[str, str], ...],
              vae: tuple[str, str], size: tuple[int, int]) -> tuple[str, str]:
        """The hires-fix second pass: upscale, then sample again with the denoising strength."""
        upscaler = (self.v.get("Hires upscaler") or "Latent").strip()
        if "Hires resize" in self.v:
            w, h = self.size("Hires resize", size)
            target: dict[str, Any] = {"mode": "size", "width": w, "height": h}
        else:
            target = {"mode": "factor", "factor": self.number("Hires upscale", 2.0)}
        if upscaler.lower().startswith("latent"):
            method = ("bicubic" if "bicubic" in upscaler.lower() else
                      "nearest-exact" if "nearest" in upscaler.lower() else "bilinear")
            if "antialiased" in upscaler.lower():
                self.report.approximated(f"hires upscaler {upscaler!r}: without antialiasing")
            up = self.add("hires_upscale", "latent.upscale", {**target, "method": method})
            self.link(*first, up, "latent")
            latent = (up, "latent")
        else:
            dec = self.add("hires_decode", "latent.vae_decode")
            scale = self.add("hires_scale", "image.scale", {**target, "method": "lanczos", "multiple_of_8": True})
            enc = self.add("hires_encode", "latent.vae_encode")
            self.link(*first, dec, "latent")
            self.link(*vae, dec, "vae")
            self.link(*self.upscale_with_model(upscaler, (dec, "image")), scale, "image")
            self.link(scale, "image", enc, "image")
            self.link(*vae, enc, "vae")
            latent = (enc, "latent")
        second = dict(params)
        if "Hires sampler" in self.v:
            second.update(self.sampler_params("Hires sampler", "Hires schedule type"))
            second["seed"] = params["seed"]
        second["steps"] = self.whole("Hires steps", 0) or params["steps"]
        second["denoise"] = self.number("Denoising strength", 0.7)
        if "Hires CFG Scale" in self.v:
            second["cfg"] = self.number("Hires CFG Scale", params["cfg"])
        if "Hires prompt" in self.v or "Hires negative prompt" in self.v:
            self.report.unmapped("the separate hires prompts are not carried over: the second pass uses the main "
                                 "prompts")
        return self.sampler("hires_sampler", second, model, cond, latent), "latent"

    def upscale_with_model(self, upscaler: str, image: tuple[str, str]) -> tuple[str, str]:
        """The hires image enlarged by the upscale model A1111's ``upscaler`` names, where that file is
        installed (A1111 then resizes its result to the target size, as the Lanczos step after does);
        ``image`` unchanged otherwise."""
        stems = upscaler_files(upscaler)
        names = [stem + ext for stem in stems for ext in (".safetensors", ".pth", ".pt")]
        found = self.find_model("upscale_models", names) if self.find_model is not None and names else None
        if found is None:
            missing = f"no {stems[0]} file in upscale_models/" if stems else "it is not an upscale model"
            self.report.approximated(f"hires upscaler {upscaler!r} is not available ({missing}): the image is "
                                     "scaled with Lanczos instead")
            return image
        load = self.add("hires_upscale_model", "model.upscale", {"model_name": found}, "Hires upscale model")
        up = self.add("hires_upscale_image", "image.upscale_model", {}, "Hires upscale")
        self.link(load, "upscale_model", up, "upscale_model")
        self.link(*image, up, "image")
        self.report.info(f"hires upscaler {upscaler!r} → upscale model {found}, then Lanczos to the target size")
        return up, "image"

    def controlnets(self, cond: tuple[tuple[str, str], ...],
                    init_image: tuple[str, str] | None) -> tuple[tuple[str, str], ...]:
        for i, unit in enumerate(self.p.controlnets):
            where = f"ControlNet {i}"
            model = unit.get("model", "").strip()
            model = model[:m.start()].strip() if (m := _MODEL_HASH_SUFFIX.search(model)) else model
            if not model or model.lower() == "none":
                self.report.dropped(f"{where}: no model; the unit is skipped")
                continue
            if init_image is not None:
                image = init_image
            else:
                load = self.add(f"cn{i}_image", "image.load", {"image": ""}, f"{where} image")
                image = (load, "image")
                self.report.info(f"{where}: choose its image in the '{where} image' node (the text does not "
                                 "carry it)")
            hint = self.preprocessor(i, unit, image, where)
            loader = self.add(f"cn{i}_model", "model.controlnet",
                              {"controlnet": model if "." in model else f"{model}.safetensors"})
            self.report.approximated(f"{where}: ControlNet file name guessed from {unit.get('model', '')!r}")
            apply = self.add(f"cn{i}_apply", "control.apply", {
                "strength": self.unit_number(unit, "weight", 1.0, where),
                "start": self.unit_number(unit, "guidance start", 0.0, where),
                "end": self.unit_number(unit, "guidance end", 1.0, where)}, f"Apply {where}")
            self.link(*cond[0], apply, "positive")
            self.link(*cond[1], apply, "negative")
            self.link(loader, "control_net", apply, "control_net")
            self.link(*hint, apply, "image")
            cond = ((apply, "positive"), (apply, "negative"))
            mode = unit.get("control mode", "Balanced")
            if mode.strip().lower() not in ("balanced", "0"):
                self.report.approximated(f"{where}: control mode {mode!r} is not available; balanced is used")
            self.note_resize_mode(unit, where)
        return cond

    def note_resize_mode(self, unit: dict[str, str], where: str) -> None:
        mode = unit.get("resize mode", "Crop and Resize")  # the extension's default
        kind = _RESIZE_MODES.get(mode.strip().lower())
        if kind is None:
            self.report.approximated(f"{where}: resize mode {mode[:40]!r} is unknown; the hint is stretched to the "
                                     "output size")
        elif kind in _HINT_NOTES:
            self.report.approximated(_HINT_NOTES[kind])

    def unit_number(self, unit: dict[str, str], key: str, default: float, where: str) -> float:
        raw = unit.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.r.fail(f"$ ({where}, {key})", f"expected a number, found {raw[:40]!r}") from None
        if value != value or abs(value) == float("inf"):
            raise self.r.fail(f"$ ({where}, {key})", f"expected a number, found {raw[:40]!r}")
        return value

    def preprocessor(self, i: int, unit: dict[str, str], image: tuple[str, str], where: str) -> tuple[str, str]:
        module = unit.get("module", "none").strip().lower()
        if module in ("none", ""):
            return image
        type_id = next((t for prefix, t in _MODULES if module.startswith(prefix)), None)
        if type_id is None:
            node = self.add(f"cn{i}_pre", f"a1111.{module}", {k: v for k, v in unit.items() if k != "model"},
                            f"{where} preprocessor")
            self.link(*image, node, "image")
            return node, "image"
        params: dict[str, Any] = {}
        nt = self.graph.registry.get(type_id)
        if type_id == "preprocess.canny":
            params = {"low": round(self.unit_number(unit, "threshold a", 100, where)),
                      "high": round(self.unit_number(unit, "threshold b", 200, where))}
        res = unit.get("processor res")
        if res is not None and nt is not None and nt.input("detect_resolution") is not None:
            value = round(self.unit_number(unit, "processor res", 512, where))
            if value > 0:
                params["detect_resolution"] = value
        if type_id == "preprocess.normal_from_depth":
            depth = self.add(f"cn{i}_depth", "preprocess.depth", {}, f"{where} depth")
            self.link(*image, depth, "image")
            image = (depth, "image")
            port = "depth"
        else:
            port = "image"
        node = self.add(f"cn{i}_pre", type_id, params, f"{where} preprocessor")
        self.link(*image, node, port)
        canonical = {"canny", "invert", "mlsd", "none"}
        if module not in canonical:
            self.report.approximated(f"{where}: preprocessor {module!r} → our {nt.title if nt else type_id}")
        return node, "image"

    # -- inpainting -------------------------------------------------------------------------------
    def inpaint(self, image: tuple[str, str], vae: tuple[str, str]
                ) -> tuple[tuple[str, str], tuple[tuple[str, str], tuple[str, str]] | None]:
        """A1111's inpainting of the whole picture: the mask picture made hard (and inverted for "Inpaint
        not masked") limits sampling through the latent's noise mask; the masked content decides what
        the masked area starts from. Returns the latent to sample and what ``paste_back`` needs."""
        load = self.add("mask_image", "image.load", {"image": ""}, "Inpaint mask")
        grey = self.add("mask_from_image", "mask.from_image", {"channel": "luminance"}, "Mask from picture")
        hard = self.add("mask_hard", "mask.threshold", {"value": _MASK_CUT}, "Hard mask")
        self.link(load, "image", grey, "image")
        self.link(grey, "mask", hard, "mask")
        mask = (hard, "mask")
        self.report.info("inpainting: choose the mask picture (white = repaint, black = keep) in the 'Inpaint mask' "
                         "node (the text does not carry it); like A1111, it counts as repainted where brighter "
                         "than mid-grey")
        mode = (self.v.get("Mask mode") or "Inpaint masked").strip().lower()
        if mode in ("inpaint not masked", "1"):
            invert = self.add("mask_invert", "mask.invert", {}, "Inpaint not masked")
            self.link(*mask, invert, "mask")
            mask = (invert, "mask")
        elif mode not in ("inpaint masked", "0"):
            self.report.approximated(f"mask mode {self.v['Mask mode']!r} is unknown; the masked area is repainted")
        latent = self.masked_content(image, vae, mask)
        self.note_inpaint_area()
        return latent, self.overlay_mask(image, mask)

    def masked_content(self, image: tuple[str, str], vae: tuple[str, str],
                       mask: tuple[str, str]) -> tuple[str, str]:
        raw = self.v.get("Masked content", self.v.get("Inpainting fill", "original")).strip()
        fill = _FILLS.get(raw.lower())
        if fill is None:
            self.report.approximated(f"masked content {raw!r} is unknown; the masked area starts from the original")
            fill = "original"
        if fill == "original":
            encode = self.add("init_encode", "latent.vae_encode")
            self.link(*image, encode, "image")
            self.link(*vae, encode, "vae")
            noise_mask = self.add("noise_mask", "latent.set_noise_mask")
            self.link(encode, "latent", noise_mask, "latent")
            self.link(*mask, noise_mask, "mask")
            return noise_mask, "latent"
        # The masked area blanked to grey before encoding; the latent carries the hard mask as its noise mask.
        encode = self.add("init_encode", "latent.vae_encode_inpaint", {"grow_mask_by": 0})
        self.link(*image, encode, "pixels")
        self.link(*mask, encode, "mask")
        self.link(*vae, encode, "vae")
        self.report.approximated(f"masked content {fill!r}: the masked area starts from neutral grey, encoded "
                                 f"(VAE Encode for Inpainting), where {_FILL_NOTES[fill]}")
        return encode, "latent"

    def note_inpaint_area(self) -> None:
        area = (self.v.get("Inpaint area") or "Whole picture").strip()
        if area.lower() in ("whole picture", "0"):
            return
        padding = self.v.get("Masked area padding")
        self.report.unmapped(f"inpaint area {area!r}" + (f" (padding {padding.strip()} pixels)" if padding else "")
                             + " is not carried over: A1111 repaints a crop around the mask at the full size and "
                             "pastes it back; here the whole picture is inpainted at the recorded size")

    def overlay_mask(self, image: tuple[str, str], mask: tuple[str, str]
                     ) -> tuple[tuple[str, str], tuple[str, str]] | None:
        """The mask A1111 pastes the result onto the original through: the hard mask blurred by the
        mask blur, then doubled (clipped to 1), so the blur's inner half shows the result fully."""
        blur = self.number("Mask blur", 0.0)
        if self.graph.registry.get("image.composite_masked") is None:
            self.report.dropped("the result is not pasted onto the original picture through the mask, as A1111 "
                                "does: this installation has no Composite Images by Mask node"
                                + (f"; mask blur {blur:g} is not used" if blur > 0 else ""))
            return None
        if blur <= 0:
            return image, mask  # a hard mask: doubling changes nothing
        radius = round(blur * _SIGMAS_PER_RADIUS)
        feather = self.add("mask_blur", "mask.feather", {"radius": radius}, "Mask blur")
        self.link(*mask, feather, "mask")
        self.report.approximated(f"mask blur {blur:g} → Feather Mask radius {radius} (the same Gaussian σ; "
                                 "A1111's blur reaches 2.5σ, ours 3σ)")
        doubled = self.add("mask_overlay", "mask.combine", {"operation": "add"}, "Overlay mask")
        self.link(feather, "mask", doubled, "mask")
        self.link(feather, "mask", doubled, "other")
        return image, (doubled, "mask")

    def paste_back(self, result: tuple[str, str], original: tuple[str, str], mask: tuple[str, str]) -> tuple[str, str]:
        paste = self.add("paste_back", "image.composite_masked", {"x": 0, "y": 0}, "Paste onto original")
        self.link(*original, paste, "destination")
        self.link(*result, paste, "source")
        self.link(*mask, paste, "mask")
        return paste, "image"

    def notes_unused(self) -> None:
        used = {"Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model", "Model hash", "VAE",
                "VAE hash", "Clip skip", "Denoising strength", "Batch size", "Hires upscale", "Hires resize",
                "Hires upscaler", "Hires steps", "Hires sampler", "Hires schedule type", "Hires CFG Scale",
                "Hires prompt", "Hires negative prompt", *INPAINT_KEYS, "Version", "Lora hashes", "TI hashes",
                "Hashes", "Batch pos", "Emphasis"}
        for key in self.v:
            if key in used or re.match(r"^ControlNet\b", key):
                continue
            self.report.unmapped(f"setting {key!r} ({self.v[key][:60]}) is not carried over")
