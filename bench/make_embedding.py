"""Write random textual-inversion embeddings in the layouts users have, beside the random checkpoints.

Called from ``bench.make_models.write_models`` (``EXTRA_WRITERS``). Under ``out/embeddings``:

- ``{size}-sd15-a1111.pt``: A1111's pickled layout (``string_to_param`` {"*": (2, dim)}, 2 vectors);
- ``{size}-sd15-embedding.safetensors``: ``emb_params`` (1, dim);
- ``{size}-sdxl-embedding.safetensors`` (when sdxl is among the families): ``clip_l`` (2, dim_l), ``clip_g`` (2, dim_g).

Widths come from the text-encoder configs of the same size (tiny: bench.make_models.TINY; full: the
shipped configs), so the files fit the checkpoints written beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _width(size: str, family: str, sub: str) -> int:
    from bench.make_models import TINY, real_configs

    cfg: dict[str, Any] = TINY[family] if size == "tiny" else real_configs(family)
    return int(cfg[sub]["hidden_size"])


def write_embeddings(out: Path, made: Any, *, size: str, seed: int, dtype: Any,
                     families: tuple[str, ...]) -> None:
    import torch
    from safetensors.torch import save_file

    folder = Path(out) / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed + 701)

    def rand(n: int, dim: int) -> Any:
        # About the spread of CLIP's own token embeddings.
        return (torch.randn(n, dim, generator=g) * 0.02).to(dtype)

    if "sd15" in families:
        dim = _width(size, "sd15", "text_encoder")
        vectors = rand(2, dim)
        path = folder / f"{size}-sd15-a1111.pt"
        torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": vectors},
                    "name": path.stem, "step": 3000, "sd_checkpoint": None, "sd_checkpoint_name": None}, path)
        made.paths["embedding-sd15-pt"] = path
        made.reference["embedding-sd15-pt"] = {"emb_params": vectors}
        single = {"emb_params": rand(1, dim)}
        made.paths["embedding-sd15"] = path = folder / f"{size}-sd15-embedding.safetensors"
        save_file(single, str(path))
        made.reference["embedding-sd15"] = single
    if "sdxl" in families:
        xl = {"clip_l": rand(2, _width(size, "sdxl", "text_encoder")),
              "clip_g": rand(2, _width(size, "sdxl", "text_encoder_2"))}
        made.paths["embedding-sdxl"] = path = folder / f"{size}-sdxl-embedding.safetensors"
        save_file(xl, str(path))
        made.reference["embedding-sdxl"] = xl
