"""Port types: what flows along a wire, and the parameter kinds a node can take.

A port type is a kind plus, for model-bearing kinds, a model family. Families are either
concrete (``sd15``, ``sd2``, ``sdxl``, ``sdxl_refiner``), ``any``, or a node-local variable (``$F``): every port of
one node that uses the same variable must end up with the same concrete family. That is how a
sampler says "model, conditioning and latent of one family" without knowing which.

``sd15`` and ``sd2`` share one VAE latent space, so a LATENT of either fits where the other is
expected (``families_fit``); so do ``sdxl`` and ``sdxl_refiner`` (the refiner's own MODEL, CLIP and
CONDITIONING stay apart: its text encoder and added conditioning differ from the base's). Every other
kind needs the family itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    # Values that travel along wires.
    IMAGE = "IMAGE"
    MASK = "MASK"
    LATENT = "LATENT"
    CONDITIONING = "CONDITIONING"
    MODEL = "MODEL"
    CLIP = "CLIP"
    VAE = "VAE"
    CONTROL_NET = "CONTROL_NET"
    POSE = "POSE"  # body keypoints (OpenPose-18 per person), JSON-able
    CLIP_VISION = "CLIP_VISION"  # an image encoder (CLIP vision tower), for image prompts
    CLIP_VISION_OUTPUT = "CLIP_VISION_OUTPUT"  # image embeddings made by a CLIP_VISION encoder
    IPADAPTER = "IPADAPTER"  # IP-Adapter weights (image-prompt projection and attention layers)
    UPSCALE_MODEL = "UPSCALE_MODEL"  # an image super-resolution network (ESRGAN, SwinIR, …)
    GLIGEN = "GLIGEN"  # GLIGEN weights: gated self-attention layers that ground phrases in boxes
    SIGMAS = "SIGMAS"  # a noise schedule: descending noise levels (k-diffusion sigmas), the last 0
    SAMPLER = "SAMPLER"  # a sampler name and its options, for the custom sampler
    NOISE = "NOISE"  # a source of starting noise (a seed, or none)
    GUIDER = "GUIDER"  # a model with its prompts and guidance, for the advanced custom sampler
    # Parameter kinds: edited in the inspector, stored in the workflow file.
    INT = "INT"
    FLOAT = "FLOAT"
    STRING = "STRING"
    BOOL = "BOOL"
    ENUM = "ENUM"
    SEED = "SEED"
    FILE = "FILE"
    # Only for placeholder nodes whose real type is unknown.
    ANY = "ANY"


WIRE_KINDS = frozenset(
    {Kind.IMAGE, Kind.MASK, Kind.LATENT, Kind.CONDITIONING, Kind.MODEL, Kind.CLIP, Kind.VAE, Kind.CONTROL_NET,
     Kind.POSE, Kind.CLIP_VISION, Kind.CLIP_VISION_OUTPUT, Kind.IPADAPTER, Kind.UPSCALE_MODEL,
     Kind.GLIGEN, Kind.SIGMAS, Kind.SAMPLER, Kind.NOISE, Kind.GUIDER}
)
PARAM_KINDS = frozenset({Kind.INT, Kind.FLOAT, Kind.STRING, Kind.BOOL, Kind.ENUM, Kind.SEED, Kind.FILE})
FAMILY_KINDS = frozenset({Kind.LATENT, Kind.CONDITIONING, Kind.MODEL, Kind.CLIP, Kind.VAE, Kind.CONTROL_NET,
                          Kind.IPADAPTER, Kind.GLIGEN})


class Family(StrEnum):
    """Model families: which UNets, text encoders, VAEs, ControlNets and LoRAs fit together."""

    SD15 = "sd15"
    SD2 = "sd2"
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl_refiner"  # SDXL's latent space; OpenCLIP-G only, aesthetic-score conditioning


class ModelKind(StrEnum):
    """Kinds of model file, each with its own folder under a models root."""

    CHECKPOINTS = "checkpoints"
    CONTROLNET = "controlnet"
    VAE = "vae"
    LORAS = "loras"
    EMBEDDINGS = "embeddings"
    ANNOTATORS = "annotators"
    TAESD = "taesd"
    CLIP_VISION = "clip_vision"
    IPADAPTER = "ipadapter"
    UPSCALE_MODELS = "upscale_models"
    GLIGEN = "gligen"

    @property
    def downloadable(self) -> bool:
        """Single files a URL download may go into (annotators are whole repo folders)."""
        return self is not ModelKind.ANNOTATORS


# Families whose VAEs share one latent space: a LATENT of one is valid for the others.
_LATENT_SPACE: dict[str, str] = {Family.SD15.value: "sd", Family.SD2.value: "sd", Family.SDXL.value: "sdxl",
                                 Family.SDXL_REFINER.value: "sdxl"}

FAMILIES = tuple(Family)
MODEL_KINDS = tuple(ModelKind)
DOWNLOAD_KINDS = tuple(k for k in ModelKind if k.downloadable)
ANY_FAMILY = "any"
SEED_MAX = 2**64 - 1

_TYPE_RE = re.compile(r"^([A-Z_]+)(?:\[([a-z0-9_]+|\$[A-Za-z0-9_]+)\])?$")


def is_family_var(family: str) -> bool:
    return family.startswith("$")


@dataclass(frozen=True, slots=True)
class PortType:
    kind: Kind
    family: str = ANY_FAMILY

    def __post_init__(self) -> None:
        if not isinstance(self.kind, Kind):
            object.__setattr__(self, "kind", Kind(self.kind))
        fam = self.family
        if fam != ANY_FAMILY and not is_family_var(fam):
            if fam not in FAMILIES:
                raise ValueError(f"unknown model family {fam!r}; expected one of {', '.join(FAMILIES)}")
            if self.kind not in FAMILY_KINDS:
                raise ValueError(f"{self.kind} does not carry a model family")

    @classmethod
    def parse(cls, text: str | PortType | Kind) -> PortType:
        if isinstance(text, PortType):
            return text
        if isinstance(text, Kind):
            return cls(text)
        m = _TYPE_RE.match(text.strip())
        if not m or m.group(1) not in Kind.__members__:
            raise ValueError(f"not a port type: {text!r}")
        return cls(Kind(m.group(1)), m.group(2) or ANY_FAMILY)

    @property
    def is_wire(self) -> bool:
        return self.kind in WIRE_KINDS or self.kind is Kind.ANY

    @property
    def concrete_family(self) -> str | None:
        """The family if it is a real one, else None (``any`` or an unbound variable)."""
        return None if self.family == ANY_FAMILY or is_family_var(self.family) else self.family

    def with_family(self, family: str | None) -> PortType:
        if family is None or self.kind not in FAMILY_KINDS:
            return self
        return PortType(self.kind, family)

    def __str__(self) -> str:
        fam = self.concrete_family
        return f"{self.kind.value}[{fam}]" if fam else self.kind.value


def latents_compatible(a: str, b: str) -> bool:
    """Whether a LATENT of family ``a`` is valid where family ``b`` is expected: the same family,
    ``any``, or two families that share a latent space (sd15 and sd2; sdxl and sdxl_refiner)."""
    if a == b or ANY_FAMILY in (a, b):
        return True
    space = _LATENT_SPACE.get(a)
    return space is not None and space == _LATENT_SPACE.get(b)


def families_fit(a: PortType, b: PortType) -> bool:
    """Whether the concrete families of two ports may meet, across a wire or at one node's family
    variable: equal, unknown, or latent-compatible where either port is a LATENT."""
    fa, fb = a.concrete_family, b.concrete_family
    if not fa or not fb or fa == fb:
        return True
    return Kind.LATENT in (a.kind, b.kind) and latents_compatible(fa, fb)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to "may this connection be made?" — truthy when it may; otherwise a reason."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


YES = Verdict(True)


def can_connect(out: PortType | str, inp: PortType | str) -> Verdict:
    """Whether an output of type ``out`` may feed an input of type ``inp``, with a human reason if not."""
    out, inp = PortType.parse(out), PortType.parse(inp)
    if Kind.ANY in (out.kind, inp.kind):
        return YES
    if inp.kind not in WIRE_KINDS:
        return Verdict(False, f"{inp.kind.value} is a parameter, not a wire input")
    if out.kind is not inp.kind:
        return Verdict(False, f"{out.kind.value} output cannot feed a {inp.kind.value} input")
    if not families_fit(out, inp):
        return Verdict(False, f"{out} does not fit {inp}")
    return YES
