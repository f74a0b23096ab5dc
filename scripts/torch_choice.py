"""Which torch build the launcher installs: ``LATENT_STUDIO_TORCH`` turned into pip arguments.

Run by ``scripts/bootstrap.sh`` with the virtual environment's Python before the studio is
installed, so it uses the standard library only.

    python scripts/torch_choice.py pip-args VALUE        one pip argument per line
    python scripts/torch_choice.py record VALUE FILE     writes what was installed (read by `doctor`)

VALUE is empty or ``default`` (torch from the default package index), a build name (``cpu``,
``cu126``, ``cu128``, ``rocm6.4``: that build of the same torch version from PyTorch's own index),
or a whole pip requirement with options (``torch==2.13.0 --index-url URL``), passed on as it is.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

TORCH_VERSION = "2.13.0"
INDEX = "https://download.pytorch.org/whl/"
# Builds PyTorch publishes for this version (one index per build, https://download.pytorch.org/whl/<name>).
KNOWN = ("cpu", "cu126", "cu128", "rocm6.4")
# Other names of the same shape (a newer CUDA or ROCm) are tried too: pip says if the index lacks them.
_BUILD_NAME = re.compile(r"(cpu|xpu|cu\d{3}|rocm\d+\.\d+(\.\d+)?)")
_SPEC_CHARS = re.compile(r"[\s=<>!~/:@\[]")


class ChoiceError(ValueError):
    """A value of LATENT_STUDIO_TORCH that names no build and is no pip requirement."""


@dataclass(frozen=True)
class Choice:
    name: str  # "default", a build name, or "custom"
    pip_args: tuple[str, ...]
    note: str = ""  # said on stderr before installing (an untested build name)

    @property
    def index_url(self) -> str | None:
        args = list(self.pip_args)
        for flag in ("--index-url", "-i"):
            if flag in args[:-1]:
                return args[args.index(flag) + 1]
        return None


def resolve(value: str, platform: str = sys.platform) -> Choice:
    """The pip arguments for ``value`` on ``platform`` (``sys.platform`` spelling)."""
    text = value.strip()
    if text in ("", "default"):
        return Choice("default", (f"torch=={TORCH_VERSION}",))
    if _BUILD_NAME.fullmatch(text):
        if platform == "darwin" and text != "cpu":
            raise ChoiceError(f"LATENT_STUDIO_TORCH={text}: macOS has no {text} build of torch; the default "
                              "build uses the Apple GPU (MPS)")
        if platform == "win32" and text.startswith("rocm"):
            raise ChoiceError(f"LATENT_STUDIO_TORCH={text}: ROCm builds of torch are for Linux only")
        note = "" if text in KNOWN else (f"note: {text} is not one of the builds known for torch {TORCH_VERSION} "
                                         f"({', '.join(KNOWN)}); trying {INDEX}{text}")
        return Choice(text, (f"torch=={TORCH_VERSION}", "--index-url", INDEX + text), note)
    if _SPEC_CHARS.search(text) or text.startswith(("torch", "-")):
        try:
            args = tuple(shlex.split(text))
        except ValueError as exc:
            raise ChoiceError(f"LATENT_STUDIO_TORCH={value!r}: {exc}") from None
        return Choice("custom", args)
    raise ChoiceError(f"LATENT_STUDIO_TORCH={value!r} names no torch build: use one of default, "
                      f"{', '.join(KNOWN)}, or a pip requirement such as "
                      f"'torch=={TORCH_VERSION} --index-url {INDEX}cu128'")


def record_text(value: str, choice: Choice) -> str:
    """What ``.torch-choice`` holds. The first line is compared by bootstrap.sh as it is (no Python
    starts on a normal launch), so it holds the raw value."""
    raw = value.replace("\n", " ")
    return f"LATENT_STUDIO_TORCH={raw}\nname={choice.name}\npip={shlex.join(choice.pip_args)}\n"


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("pip-args", "record") or (argv[0] == "record" and len(argv) != 3):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        choice = resolve(argv[1])
    except ChoiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if argv[0] == "pip-args":
        if choice.note:
            print(choice.note, file=sys.stderr)
        print("\n".join(choice.pip_args))
    else:
        Path(argv[2]).write_text(record_text(argv[1], choice), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
