"""Write the annotator resources: the ADE20K palette (``resources/palettes/ade20k.json``) and the
class-info file OneFormer's image processor reads (``resources/oneformer/ade20k_panoptic.json``), so
neither is ever fetched. Run with the reference palette: ``python scripts/make_annotator_resources.py PALETTE``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

RES = Path(__file__).resolve().parents[1] / "resources"

# ADE20K-150 labels that are countable objects ("things") in the ADE20K panoptic split.
THING_IDS = {
    7, 8, 10, 12, 14, 15, 18, 19, 20, 22, 23, 24, 27, 30, 31, 32, 33, 35, 36, 37, 38, 39, 41, 42, 43, 44, 45, 47,
    49, 50, 53, 55, 56, 57, 58, 62, 64, 65, 66, 67, 69, 70, 71, 72, 73, 74, 75, 76, 78, 80, 81, 82, 83, 85, 86, 87,
    88, 89, 90, 92, 93, 95, 97, 98, 102, 103, 104, 107, 108, 110, 111, 112, 115, 116, 118, 119, 120, 121, 123, 124,
    125, 126, 127, 129, 130, 132, 133, 134, 135, 136, 137, 138, 139, 142, 143, 144, 146, 147, 148, 149,
}


def main(argv: list[str]) -> int:
    src = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    classes, palette = src["classes"], src["palette"]
    assert len(classes) == len(palette) == 150 and len(THING_IDS) == 100
    (RES / "palettes").mkdir(parents=True, exist_ok=True)
    (RES / "palettes" / "ade20k.json").write_text(json.dumps(
        {"description": src["description"], "classes": classes, "palette": palette}, indent=1) + "\n",
        encoding="utf-8")
    info = {str(i): {"name": name, "isthing": int(i in THING_IDS)} for i, name in enumerate(classes)}
    (RES / "oneformer").mkdir(parents=True, exist_ok=True)
    (RES / "oneformer" / "ade20k_panoptic.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
