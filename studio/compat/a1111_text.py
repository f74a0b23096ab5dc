"""Reading A1111's ``parameters`` text: prompt, ``Negative prompt:``, then one line of ``Key: value`` pairs.

Values may be quoted (JSON escapes, commas inside), and ControlNet units come in three generations:
``ControlNet 0: "Module: canny, Model: …"``, ``ControlNet 0: "preprocessor: canny, …, starting/ending:
(0, 1), preprocessor params: (512, 100, 200)"`` and the oldest flat ``ControlNet-0 Module: canny``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_UNIT_KEY = re.compile(r"^ControlNet(?: |-)?(\d{0,3})$")  # a unit number; A1111 has a handful
_OLD_UNIT_KEY = re.compile(r"^ControlNet(?:-(\d{1,3}))? (.+)$")
_HASH = re.compile(r"[0-9a-fA-F]{8,64}")  # A1111's short and full hashes
_KNOWN = ("Steps", "Sampler", "CFG scale", "Seed", "Size")
# Keys with a comma of their own, which would split them, → the names A1111 uses for them now.
_COMMA_KEYS = {"Only masked padding, pixels:": "Masked area padding:"}


@dataclass
class Parameters:
    prompt: str
    negative: str
    values: dict[str, str] = field(default_factory=dict)
    controlnets: list[dict[str, str]] = field(default_factory=list)  # lower-case keys, one dict per unit


def split_pairs(line: str) -> dict[str, str]:
    """``Key: value, Key: "quoted, value", Key: (a, b)`` → {key: value}; the first of a key wins."""
    parts: list[str] = []
    buf: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in line:
        if quoted:
            buf.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    pieces: dict[str, list[str]] = {}  # joined at the end: growing a string per comma would be quadratic
    last: str | None = None
    for part in parts:
        key, sep, value = part.strip().partition(":")
        key = key.strip()
        if sep and last is not None and _hash_entry(last, value):
            pieces[last].append(part)  # "Lora hashes: a: 1f2e3d4c5b6a, b: …" written without quotes
        elif sep and key:
            # A key of any characters is a field of its own, never part of the value before it.
            last = key
            pieces.setdefault(key, [_unquote(value.strip())])
        elif last is not None and part.strip():
            pieces[last].append(part)  # an unquoted value that contains a comma
    return {key: ",".join(values) for key, values in pieces.items()}


def _hash_entry(last: str, value: str) -> bool:
    """Whether ``name: value`` continues an unquoted list of hashes (``Lora hashes``, ``TI hashes``)."""
    value = value.strip()
    return last.lower().endswith("hashes") and bool(_HASH.fullmatch(value)) and not value.isdigit()


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value[1:-1]
        return decoded if isinstance(decoded, str) else value[1:-1]
    return value


def parse_parameters(text: str) -> Parameters:
    lines = text.strip().replace("\r\n", "\n").split("\n")
    values: dict[str, str] = {}
    if lines:
        last = lines[-1]
        for key, name in _COMMA_KEYS.items():
            last = last.replace(key, name)
        pairs = split_pairs(last)
        if len(pairs) >= 3 and any(k in pairs for k in _KNOWN):
            values = pairs
            lines = lines[:-1]
    prompt: list[str] = []
    negative: list[str] = []
    target = prompt
    for line in lines:
        if line.startswith("Negative prompt:"):
            target = negative
            line = line[len("Negative prompt:"):].lstrip()
        target.append(line)
    params = Parameters("\n".join(prompt).strip(), "\n".join(negative).strip(), values)
    params.controlnets = _units(values)
    return params


def _units(values: dict[str, str]) -> list[dict[str, str]]:
    units: dict[int, dict[str, str]] = {}
    for key, value in values.items():
        m = _UNIT_KEY.match(key)
        if m:
            units[int(m.group(1) or 0)] = split_pairs(value)
            continue
        m = _OLD_UNIT_KEY.match(key)
        if m:
            units.setdefault(int(m.group(1) or 0), {})[m.group(2).strip().lower()] = value
    out = []
    for index in sorted(units):
        unit = _normalise_unit(units[index])
        if unit.get("enabled", "true").lower() == "false":
            continue
        unit.pop("enabled", None)
        out.append(unit)
    return out


def _normalise_unit(raw: dict[str, str]) -> dict[str, str]:
    unit = {k.lower(): v for k, v in raw.items()}
    if "preprocessor" in unit:  # the middle generation's names
        unit.setdefault("module", unit.pop("preprocessor"))
    if "guidance strength" in unit:  # the oldest name of the end
        unit.setdefault("guidance end", unit.pop("guidance strength"))
    if "starting/ending" in unit:
        nums = re.findall(r"-?\d+(?:\.\d+)?", unit.pop("starting/ending"))
        if len(nums) == 2:
            unit.setdefault("guidance start", nums[0])
            unit.setdefault("guidance end", nums[1])
    if "preprocessor params" in unit:
        nums = re.findall(r"-?\d+(?:\.\d+)?", unit.pop("preprocessor params"))
        for key, num in zip(("processor res", "threshold a", "threshold b"), nums, strict=False):
            unit.setdefault(key, num)
    return unit
