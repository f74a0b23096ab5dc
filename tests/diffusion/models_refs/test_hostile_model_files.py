"""Model names, model folders and model files treated as hostile input (issue 10, items 4, 8 and 10).

A workflow may name any string as a model; a models folder may hold link loops, FIFOs and damaged
headers. Names stay inside the model folders, only regular files are read, reads are bounded, and
one bad file is one line of a listing, never the end of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.diffusion import model_folders
from studio.diffusion.errors import ModelError
from studio.diffusion.model_folders import list_models, resolve, scan
from studio.diffusion.model_hash import HashCache, sha256_file
from studio.diffusion.model_refs import models_table
from studio.diffusion.safetensors_header import MAX_HEADER_BYTES, read_header

HANG_GUARD_S = 60  # generous: each case takes well under a second; this only turns a hang into a failure


def finishes(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it has not returned in time."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised below, in the test's thread
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(HANG_GUARD_S)
    assert not t.is_alive(), f"{fn} did not finish within {HANG_GUARD_S} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture
def root(tmp_path: Path, tiny_root: Path) -> Path:
    r = tmp_path / "models"
    (r / "checkpoints").mkdir(parents=True)
    (r / "vae").mkdir()
    shutil.copy(tiny_root / "checkpoints" / "tiny-sd15.safetensors", r / "checkpoints" / "good.safetensors")
    return r


def _header_file(path: Path, header: bytes, data: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


# --- names from a workflow -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "../../etc/hostname", "../vae/x.safetensors", "sub/../../x.safetensors", "..\\..\\x.safetensors",
    "/etc/hostname", "/dev/zero", "/dev/stdin", "/", "/proc", "~/x.safetensors", "C:\\x.safetensors",
    "a\x00b.safetensors", "a\nb.safetensors", ".", "./", "x" * 5000,
])
def test_names_that_leave_the_model_folders_are_refused(root: Path, name: str) -> None:
    # Real files where the escaping names lead, so only confinement can refuse them.
    for p in (root / "x.safetensors", root.parent / "x.safetensors", root / "vae" / "x.safetensors",
              root.parent / "etc" / "hostname"):
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "checkpoints" / "good.safetensors", p)
    with pytest.raises(ModelError) as err:
        finishes(lambda: resolve([root], "checkpoints", name))
    assert "checkpoints model" in str(err.value)
    assert "Traceback" not in str(err.value)


def test_an_absolute_path_inside_a_kind_folder_is_accepted(root: Path) -> None:
    path = root / "checkpoints" / "good.safetensors"
    assert resolve([root], "checkpoints", str(path)) == path
    assert resolve([root], "checkpoints", "./good.safetensors") == path


def test_devices_and_fifos_inside_the_folder_are_not_models(root: Path) -> None:
    os.mkfifo(root / "checkpoints" / "fifo.safetensors")
    (root / "checkpoints" / "zero.safetensors").symlink_to("/dev/zero")
    for name in ("fifo.safetensors", "zero.safetensors"):
        with pytest.raises(ModelError, match="not a regular file"):
            finishes(lambda name=name: resolve([root], "checkpoints", name))


def test_a_users_symlink_to_a_checkpoint_elsewhere_is_followed(root: Path, tmp_path: Path) -> None:
    big = tmp_path / "elsewhere" / "big.safetensors"
    big.parent.mkdir()
    shutil.copy(root / "checkpoints" / "good.safetensors", big)
    (root / "checkpoints" / "linked.safetensors").symlink_to(big)
    assert resolve([root], "checkpoints", "linked.safetensors").resolve() == big
    assert "linked.safetensors" in list_models([root], "checkpoints")


def test_a_file_that_is_not_a_model_is_refused(root: Path) -> None:
    (root / "checkpoints" / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a model file"):
        resolve([root], "checkpoints", "notes.txt")


def test_an_escaping_name_is_neither_hashed_nor_recorded(root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.safetensors"
    secret.write_bytes(b"private bytes")
    g = Graph(default_registry())
    g.add_node("model.vae", params={"vae": "../../secret.safetensors"})
    g.add_node("model.checkpoint", params={"checkpoint": str(secret)})
    table = models_table(g, Settings(models_root=str(root)), cache=HashCache(tmp_path / "h.json"))
    for row in table:
        assert "sha256" not in row and "size" not in row, row
    assert hashlib.sha256(b"private bytes").hexdigest() not in json.dumps(table)


# --- hashing -----------------------------------------------------------------------------------------


def test_hashing_refuses_devices_and_fifos_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ModelError, match="not a regular file"):
            finishes(lambda path=path: sha256_file(path))
        with pytest.raises(ModelError, match="not a regular file"):
            finishes(lambda path=path: HashCache(tmp_path / "h.json").hash(path))


def test_hashing_reads_no_more_than_the_size_the_file_had(tmp_path: Path) -> None:
    p = tmp_path / "growing.safetensors"
    first = os.urandom(100)
    p.write_bytes(first)

    def grow(done: int, total: int) -> None:
        with p.open("ab") as f:  # a file that keeps growing while it is read
            f.write(b"more")

    assert finishes(lambda: sha256_file(p, progress=grow, chunk_size=10)) == hashlib.sha256(first).hexdigest()


# --- headers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("header, why", [
    (b"[" * 50_000 + b"]" * 50_000, "malformed"),
    (json.dumps({"__metadata__": [1, 2]}).encode(), "malformed"),
    (json.dumps({"__metadata__": {"a": {"b": 1}}}).encode(), "malformed"),
    (json.dumps({"__metadata__": "text"}).encode(), "malformed"),
    (json.dumps({"w": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 8]}}).encode(), "malformed"),
    (json.dumps({"w": {"dtype": "F32", "shape": [10**30], "data_offsets": [0, 8]}}).encode(), "malformed"),
    (json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode(), "truncated"),
    (b'{"w\xff": 1}', "malformed"),
])
def test_malformed_headers_give_a_model_error(tmp_path: Path, header: bytes, why: str) -> None:
    p = _header_file(tmp_path / "bad.safetensors", header, b"\0" * 8)
    with pytest.raises(ModelError, match=f"bad.safetensors .*{why}"):
        read_header(p)


def test_a_header_claiming_gigabytes_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "huge.safetensors"
    with p.open("wb") as f:  # sparse: says 2 GiB of header, and the file is that long
        f.write(struct.pack("<Q", 2 * 2**30))
        f.seek(2 * 2**30 + 8)
        f.write(b"\0")
    reads: list[int] = []
    import safetensors

    monkeypatch.setattr(safetensors, "safe_open", lambda *a, **k: reads.append(1))
    with pytest.raises(ModelError, match=f"implausible header length {2 * 2**30}"):
        read_header(p)
    assert reads == [] and MAX_HEADER_BYTES < 2 * 2**30


# --- listing a folder --------------------------------------------------------------------------------


def test_one_bad_file_is_one_entry_with_a_problem(root: Path) -> None:
    ck = root / "checkpoints"
    _header_file(ck / "nested.safetensors", b"[" * 50_000 + b"]" * 50_000)
    _header_file(ck / "meta.safetensors", json.dumps({"__metadata__": [1]}).encode())
    (ck / "short.safetensors").write_bytes(b"\1\2")
    pipe = ck / "pipe"
    pipe.mkdir()
    (pipe / "model_index.json").write_text("[" * 100_000 + "]" * 100_000)  # nested far past Python's recursion limit
    entries = {e.name: e for e in finishes(lambda: scan([root], ["checkpoints"]))}
    assert entries["good.safetensors"].family == "sd15" and not entries["good.safetensors"].problem
    for name in ("nested.safetensors", "meta.safetensors", "short.safetensors", "pipe"):
        assert entries[name].problem and entries[name].family is None, name


def test_link_loops_fifos_and_devices_do_not_hang_the_walk(root: Path) -> None:
    ck = root / "checkpoints"
    (ck / "x").symlink_to(".")
    (ck / "y").symlink_to(".")
    (ck / "up").symlink_to("..")
    os.mkfifo(ck / "fifo.safetensors")
    (ck / "zero.safetensors").symlink_to("/dev/zero")
    (ck / "dangling.safetensors").symlink_to(ck / "nowhere")
    names = finishes(lambda: list_models([root], "checkpoints"))
    assert names == ["good.safetensors"]
    entries = finishes(lambda: scan([root]))
    assert [e.name for e in entries if e.kind == "checkpoints"] == ["good.safetensors"]


def test_depth_is_bounded(root: Path) -> None:
    deep = root / "checkpoints"
    for i in range(model_folders.MAX_DEPTH + 3):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    shutil.copy(root / "checkpoints" / "good.safetensors", deep / "deep.safetensors")
    assert list_models([root], "checkpoints") == ["good.safetensors"]
    problems = [e.problem for e in scan([root], ["checkpoints"]) if e.problem]
    assert any("deeper" in p for p in problems)


def test_an_unreadable_folder_is_one_entry_with_a_problem(root: Path, monkeypatch) -> None:
    locked = root / "checkpoints" / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == locked:  # as root, permissions cannot make a folder unreadable: pretend
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(model_folders.os, "scandir", scandir)
    entries = {e.name: e for e in scan([root], ["checkpoints"])}
    assert "Permission denied" in entries["locked"].problem
    assert not entries["good.safetensors"].problem
    assert list_models([root], "checkpoints") == ["good.safetensors"]
