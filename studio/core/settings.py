"""User settings shared by the GUI and the headless runner (a small JSON file, no Qt).

Where things live:
- ``LATENT_STUDIO_HOME`` (if set) holds everything: ``settings.json``, ``models/``, ``output/``,
  ``plugins/``. Otherwise settings go to the platform's config folder and data to ``~/LatentStudio``.
- ``LATENT_STUDIO_MODELS`` overrides the models root.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "fp16", "bf16", "fp32")
PREVIEWS = ("auto", "latent2rgb", "taesd", "none")


def config_dir() -> Path:
    home = os.environ.get("LATENT_STUDIO_HOME")
    if home:
        return Path(home)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Latent Studio"
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "Latent Studio"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "latent-studio"


def data_dir() -> Path:
    home = os.environ.get("LATENT_STUDIO_HOME")
    return Path(home) if home else Path.home() / "LatentStudio"


@dataclass
class Settings:
    models_root: str = ""
    extra_model_roots: list[str] = field(default_factory=list)
    output_dir: str = ""
    input_dir: str = ""
    device: str = "auto"
    dtype: str = "auto"
    preview: str = "auto"
    allow_ckpt: bool = False
    memory_budget_gb: float = 0.0  # 0 = decide from the machine
    path: str = field(default="", repr=False, compare=False)

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or config_dir() / "settings.json"
        data: dict[str, Any] = {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(raw, dict):
                data = raw
        except (OSError, ValueError):
            pass  # a missing or broken settings file means defaults; never a crash at start-up
        known = {f.name: f for f in fields(cls) if f.name != "path"}
        defaults = cls()
        kwargs = {}
        for k, v in data.items():
            if k in known and isinstance(v, type(getattr(defaults, k))):
                kwargs[k] = v
        s = cls(**kwargs)
        s.path = str(path)
        s._sanitise()
        return s

    def _sanitise(self) -> None:
        if self.device not in DEVICES:
            self.device = "auto"
        if self.dtype not in DTYPES:
            self.dtype = "auto"
        if self.preview not in PREVIEWS:
            self.preview = "auto"
        self.extra_model_roots = [r for r in self.extra_model_roots if isinstance(r, str)]

    def save(self, path: Path | None = None) -> None:
        path = Path(path or self.path or config_dir() / "settings.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    # -- resolved locations ---------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        env = os.environ.get("LATENT_STUDIO_MODELS")
        if env:
            return Path(env)
        return Path(self.models_root) if self.models_root else data_dir() / "models"

    @property
    def model_roots(self) -> list[Path]:
        return [self.models_dir, *(Path(r) for r in self.extra_model_roots)]

    @property
    def output_path(self) -> Path:
        env = os.environ.get("LATENT_STUDIO_OUTPUT")
        if env:
            return Path(env)
        return Path(self.output_dir) if self.output_dir else data_dir() / "output"

    @property
    def input_path(self) -> Path:
        return Path(self.input_dir) if self.input_dir else data_dir() / "input"

    @property
    def plugins_dir(self) -> Path:
        return config_dir() / "plugins"


def resources_dir() -> Path:
    """The shipped ``resources/`` folder (model configs, example workflows, sample images)."""
    return Path(__file__).resolve().parents[2] / "resources"
