"""``python -m bench NAME [args]`` — run one benchmark."""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "executor": "bench.executor",
    "make-models": "bench.make_models",
    "sampler": "bench.sampler",
    "preprocess": "bench.preprocess",
    "ui": "bench.ui",
    "lora": "bench.lora",
    "anysize": "bench.anysize",
    "speed": "bench.speed",
    "batch": "bench.batch",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHES:
        print("usage: python -m bench {" + ",".join(BENCHES) + "} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHES[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
