"""User settings shared by the GUI and the headless runner (a small JSON file, no Qt).

Where things live:
- ``LATENT_STUDIO_HOME`` (if set) holds everything: ``settings.json``, ``models/``, ``output/``,
  ``plugins/``. Otherwise settings go to the platform's config folder and data to ``~/LatentStudio``.
- ``LATENT_STUDIO_MODELS`` overrides the models root.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

Device = Literal["auto", "cuda", "mps", "cpu"]
Dtype = Literal["auto", "fp16", "bf16", "fp32"]
Preview = Literal["auto", "latent2rgb", "taesd", "none"]
Switch = Literal["auto", "on", "off"]  # auto: decided per device (studio.diffusion.speed)
DEVICES: tuple[str, ...] = get_args(Device)
DTYPES: tuple[str, ...] = get_args(Dtype)
PREVIEWS: tuple[str, ...] = get_args(Preview)


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
    # Read by pydantic when it validates a settings file: JSON types as written, no coercion from
    # strings (an int is still accepted where a float is expected).
    __pydantic_config__ = {"strict": True}

    models_root: str = ""
    extra_model_roots: list[str] = field(default_factory=list)
    output_dir: str = ""
    input_dir: str = ""
    device: Device = "auto"
    dtype: Dtype = "auto"
    preview: Preview = "auto"
    allow_ckpt: bool = False
    # A1111's rule: a prompt word that is exactly an embedding file's name uses that embedding.
    bare_embedding_names: bool = True
    memory_budget_gb: float = 0.0  # 0 = decide from the machine
    # Speed (studio.diffusion.speed): compiled UNet/ControlNet, fused attention projections,
    # channels-last layout, torch threads (0 = physical cores).
    compile_models: Switch = "auto"
    fuse_qkv: bool = False
    # UNet / ControlNet weights kept in float8 and widened layer by layer as they run: half the memory
    # of fp16 (SDXL on a small card), at a small cost in quality and speed.
    fp8_weights: bool = False
    channels_last: Switch = "auto"
    torch_threads: int = 0
    # Where the window runs queued jobs: "" this machine, "auto" or "ray://HOST:PORT" a Ray cluster.
    cluster: str = ""
    path: str = field(default="", repr=False, compare=False)
    # What was wrong with the file this was loaded from (shown by the window and the CLI; not saved).
    warnings: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """The settings in ``path``; never fails. What was wrong with the file (unreadable, not JSON,
        a value of the wrong type) is described in ``warnings``, and those values take defaults."""
        path = path or config_dir() / "settings.json"
        warnings: list[str] = []
        data: dict[str, Any] = {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raw = {}
        except (OSError, ValueError) as exc:  # a broken settings file means defaults, never a crash
            warnings.append(f"{path}: cannot be read ({exc}); using the default settings")
            raw = {}
        if isinstance(raw, dict):
            data = raw
        else:
            warnings.append(f"{path}: expected a JSON object, found {type(raw).__name__}; "
                            "using the default settings")
        s, problems = _validated(data)
        warnings += [f"{path}: {p}" for p in problems]
        s.path = str(path)
        s.warnings = warnings
        return s

    def save(self, path: Path | None = None) -> None:
        from .atomic import atomic_write_text

        path = Path(path or self.path or config_dir() / "settings.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in asdict(self).items() if k not in ("path", "warnings")}
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")

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


def _validated(data: dict[str, Any]) -> tuple[Settings, list[str]]:
    """Settings from a settings file's object, and what was wrong in it. A bad value is dropped
    (a bad entry of a list alone), so one typo costs that setting only, never the whole file."""
    from pydantic import TypeAdapter, ValidationError

    known = {name for name in Settings.__dataclass_fields__ if name not in ("path", "warnings")}
    problems = [f"unknown setting {k!r} ignored" for k in data if k not in known]
    values = {k: v for k, v in data.items() if k in known}
    if isinstance(values.get("extra_model_roots"), str):
        values["extra_model_roots"] = [values["extra_model_roots"]]  # one folder written on its own
    adapter = TypeAdapter(Settings)
    for _ in range(3):  # one pass drops what is wrong; later passes only confirm
        try:
            # JSON mode: strict applies to the values, the object itself becomes the dataclass.
            settings = adapter.validate_json(json.dumps(values))
            break
        except ValidationError as exc:
            bad_items: dict[str, set[int]] = {}
            for err in exc.errors(include_url=False):
                loc = err["loc"]
                key = str(loc[0]) if loc else "?"
                where = key + "".join(f"[{i}]" if isinstance(i, int) else f".{i}" for i in loc[1:])
                problems.append(f"setting {where!r} ignored: {err['msg']} (found {_short(err['input'])})")
                if len(loc) == 2 and isinstance(loc[1], int) and isinstance(values.get(key), list):
                    bad_items.setdefault(key, set()).add(loc[1])
                else:
                    values.pop(key, None)
            for key, bad in bad_items.items():
                if key in values:
                    values[key] = [v for i, v in enumerate(values[key]) if i not in bad]
    else:
        settings = Settings()
    if not 0 <= settings.memory_budget_gb < math.inf:
        problems.append(f"setting 'memory_budget_gb' ignored: must be 0 (automatic) or a positive number "
                        f"(found {settings.memory_budget_gb!r})")
        settings.memory_budget_gb = 0.0
    if settings.torch_threads < 0:
        problems.append(f"setting 'torch_threads' ignored: must be 0 (automatic) or a positive number "
                        f"(found {settings.torch_threads!r})")
        settings.torch_threads = 0
    if not valid_cluster(settings.cluster):
        problems.append(f"setting 'cluster' ignored: must be empty (this machine), auto or ray://HOST:PORT "
                        f"(found {_short(settings.cluster)})")
        settings.cluster = ""
    return settings, problems


def valid_cluster(address: str) -> bool:
    """Whether ``address`` names where queued jobs can run: "" (this machine), auto or ray://HOST:PORT."""
    return address in ("", "auto") or (address.startswith("ray://") and len(address) > len("ray://")
                                        and not any(c.isspace() for c in address))


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def resources_dir() -> Path:
    """The shipped ``resources/`` folder (model configs, example workflows, sample images)."""
    return Path(__file__).resolve().parents[2] / "resources"
