"""ESRGAN's original parameter names (``model.N…``) ↔ BasicSR's (``conv_first``, ``body.N.rdbK…``).

ESRGAN's original generator is one flattened sequential:
``[conv_first, shortcut(RRDBs + conv_body), (upsample, conv, act)×n, conv, act, conv]``, so its
upsampling convolutions sit at ``model.3, model.6, …`` and conv_hr / conv_last after them. No torch
here: the names are also read from safetensors headers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def old_to_new_keys(state: dict[str, T]) -> dict[str, T]:
    """ESRGAN's original names → BasicSR's (``model.1.sub.N.RDBk.convj.0`` → ``body.N.rdbk.convj``)."""
    steps = old_upsample_steps(state)
    names = {"model.0": "conv_first", f"model.{3 * steps + 2}": "conv_hr", f"model.{3 * steps + 4}": "conv_last"}
    names.update({f"model.{3 * i}": f"conv_up{i}" for i in range(1, steps + 1)})
    blocks = old_block_count(state)
    out: dict[str, T] = {}
    for key, value in state.items():
        head, _, param = key.rpartition(".")
        if head in names:
            out[f"{names[head]}.{param}"] = value
        elif head == f"model.1.sub.{blocks}":
            out[f"conv_body.{param}"] = value
        elif head.startswith("model.1.sub."):
            # model.1.sub.N.RDBk.convj.0 → body.N.rdbk.convj
            _, _, _, n, rdb, conv, _ = head.split(".")
            out[f"body.{n}.{rdb.lower()}.{conv}.{param}"] = value
        else:
            raise KeyError(key)
    return out


def new_to_old_keys(state: dict[str, T]) -> dict[str, T]:
    """BasicSR's names → ESRGAN's original ones (the inverse of ``old_to_new_keys``)."""
    steps = sum(1 for k in state if k.startswith("conv_up") and k.endswith(".weight"))
    blocks = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("body.")), default=-1)
    names = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}", "conv_hr": f"model.{3 * steps + 2}",
             "conv_last": f"model.{3 * steps + 4}"}
    names.update({f"conv_up{i}": f"model.{3 * i}" for i in range(1, steps + 1)})
    out: dict[str, T] = {}
    for key, value in state.items():
        head, _, param = key.rpartition(".")
        if head in names:
            out[f"{names[head]}.{param}"] = value
        else:
            _, n, rdb, conv = head.split(".")
            out[f"model.1.sub.{n}.{rdb.upper()}.{conv}.0.{param}"] = value
    return out


def old_block_count(keys: Iterable[str]) -> int:
    """RRDB blocks in the original layout (``model.1.sub.N.RDB1…``; ``model.1.sub.{N}`` is conv_body)."""
    return 1 + max((int(k.split(".")[3]) for k in keys if k.startswith("model.1.sub.")
                    and ".RDB" in k), default=-1)


def old_upsample_steps(keys: Iterable[str]) -> int:
    """Upsampling steps in the original layout: its last index (conv_last) is 3·steps + 4."""
    last = max(int(k.split(".")[1]) for k in keys if k.startswith("model."))
    return (last - 4) // 3
