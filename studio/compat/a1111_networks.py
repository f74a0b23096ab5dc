"""A1111's extra-network prompt tags: ``<lora:name:te:unet>``, ``<lyco:…>``, ``<hypernet:…>``.

A1111 takes these tags out of the prompt and activates the networks they name. Here they become
Load LoRA nodes (LyCORIS files load through the same node); hypernetworks have no counterpart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAG = re.compile(r"<(lora|lyco|hypernet):([^<>]*+)>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")
_EMPTY_ITEMS = re.compile(r"[ \t]*,(?:[ \t]*,)*")  # ", ," left where a tag stood between commas
_MAX_NAME = 255


@dataclass(frozen=True)
class NetworkTag:
    kind: str  # "lora" (also for <lyco:…>) or "hypernet"
    name: str
    te: float  # text-encoder multiplier (A1111: the first number)
    unet: float  # UNet multiplier (A1111: the second number, else the first)
    text: str  # the tag as written
    problem: str | None = None  # why it cannot be used as written


def strip_tags(text: str) -> str:
    """``text`` without its extra-network tags, with the spaces and commas they leave tidied."""
    return _EMPTY_ITEMS.sub(",", _SPACES.sub(" ", TAG.sub("", text))).strip(" ,")


def network_tags(text: str) -> list[NetworkTag]:
    """The extra-network tags of a prompt, in order, each read as A1111's built-in Lora extension does:
    positional ``name:te:unet`` (unet defaults to te, te to 1) or named ``te=``, ``unet=``."""
    tags = []
    for m in TAG.finditer(text):
        kind = "hypernet" if m.group(1).lower() == "hypernet" else "lora"
        parts = [p.strip() for p in m.group(2).split(":")]
        name, args = parts[0], parts[1:]
        positional = [a for a in args if "=" not in a]
        named = dict(a.split("=", 1) for a in args if "=" in a)
        problem = None
        te = unet = 1.0
        try:
            te = float(named.get("te", positional[0] if positional else 1.0))
            unet = float(named.get("unet", positional[1] if len(positional) > 1 else te))
        except ValueError:
            problem = "its multipliers are not numbers"
        if not name or len(name) > _MAX_NAME:
            problem = "it names no file"
        elif te != te or unet != unet or abs(te) > 1e6 or abs(unet) > 1e6:
            problem = "its multipliers are not usable numbers"
        tags.append(NetworkTag(kind, name, te, unet, m.group(0)[:80], problem))
    return tags
