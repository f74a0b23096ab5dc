"""A node pack's import cannot stop the studio: errors, sys.exit() and hangs are contained, listed,
and an unknown node type from a failed pack names that pack and its error."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.core.registry import Registry

ROOT = Path(__file__).resolve().parents[2]

GOOD = textwrap.dedent("""
    from studio.core.nodetype import Out, Wire, node

    @node("good.same", title="Same", category="Pack", inputs=[Wire("image", "IMAGE")],
          outputs=[Out("image", "IMAGE")])
    def same(ctx, image):
        return image
""")


def _plugins(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, code in files.items():
        (folder / f"{name}.py").write_text(code)
    return folder


@pytest.mark.parametrize(("code", "expected"), [
    ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
    ("raise SystemExit\n", "sys.exit(None)"),
    ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ("import no_such_module_for_latent_studio\n", "ModuleNotFoundError: No module named"),
    ("def broken(:\n", "SyntaxError"),
])
def test_a_failing_pack_is_listed_and_the_others_load(tmp_path, code, expected):
    reg = Registry()
    reg.load_plugins_folder(_plugins(tmp_path, bad_pack=code, good_pack=GOOD))
    assert "good.same" in reg
    [failed] = reg.load_errors
    assert failed.pack == "bad_pack" and expected in failed.error
    assert "\n" not in str(failed) and "Traceback" not in str(failed)  # one line for people
    assert reg.errors == [str(failed)]


def test_a_pack_that_hangs_at_import_is_left_behind_and_reported(tmp_path):
    release = tmp_path / "release"
    hang = f"import os, time\nwhile not os.path.exists({str(release)!r}):\n    time.sleep(0.05)\n"
    reg = Registry(import_timeout=0.5)
    try:
        reg.load_plugins_folder(_plugins(tmp_path / "plugins", a_hang=hang, good_pack=GOOD))
    finally:
        release.touch()  # let the abandoned import end, so no thread outlives the test
    assert "good.same" in reg
    [failed] = reg.load_errors
    assert failed.pack == "a_hang" and "did not finish loading within 0.5 s" in failed.error


def test_a_pack_whose_types_clash_registers_none_of_them(tmp_path):
    clash = textwrap.dedent("""
        from studio.core.nodetype import Out, Wire, node

        @node("clash.new", title="New", category="Pack", inputs=[Wire("image", "IMAGE")],
              outputs=[Out("image", "IMAGE")])
        def new(ctx, image):
            return image

        @node("good.same", title="Mine", category="Pack", inputs=[Wire("image", "IMAGE")],
              outputs=[Out("image", "IMAGE")])
        def same(ctx, image):
            return image
    """)
    reg = Registry()
    reg.load_plugins_folder(_plugins(tmp_path, a_good=GOOD, b_clash=clash))
    assert "good.same" in reg and "clash.new" not in reg
    assert [e.pack for e in reg.load_errors] == ["b_clash"]
    assert "already registered" in reg.load_errors[0].error


@pytest.mark.parametrize(("pack", "type_id"), [
    ("mypack", "mypack.blur"),
    ("my-pack", "my_pack.blur"),
    ("latent-studio-mypack", "mypack.blur"),
    ("mypack_nodes", "mypack.blur"),
])
def test_an_unknown_type_of_a_failed_pack_names_the_pack_and_its_error(tmp_path, pack, type_id):
    reg = Registry()
    reg.load_plugins_folder(_plugins(tmp_path, **{pack: "raise RuntimeError('needs opencv 5')\n"}))
    failed = reg.pack_of_failed_type(type_id)
    assert failed is not None and failed.pack == pack
    hint = reg.unknown_type_hint(type_id)
    assert hint is not None and repr(pack) in hint and "RuntimeError: needs opencv 5" in hint
    assert reg.unknown_type_hint("otherpack.blur") is None


def test_sys_exit_in_a_plugin_does_not_end_a_command(tmp_path):
    # The studio's start-up path: default_registry() with the user's plugins folder.
    home = tmp_path / "home"
    _plugins(home / "plugins", quitter="import sys\nsys.exit(0)\n")
    code = textwrap.dedent("""
        from studio.core.registry import default_registry
        reg = default_registry()
        print("alive", len(reg), reg.errors)
    """)
    env = {"LATENT_STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("alive") and "quitter" in out.stdout and "sys.exit(0)" in out.stdout
