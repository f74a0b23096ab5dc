import subprocess
import sys
import textwrap

import pytest

from studio.core.nodetype import Float, NodeDefinitionError, Out, Wire, node
from studio.core.registry import Registry


def test_builtins_are_discovered_from_the_nodes_package():
    reg = Registry()
    reg.load_builtins()
    for type_id in ["image.load", "image.save", "image.preview", "image.scale", "preprocess.canny"]:
        assert type_id in reg
    canny = reg["preprocess.canny"]
    assert canny.category == "Preprocess" and canny.version == "1.0.0"
    low = canny.input("low")
    assert (low.default, low.min, low.max, low.wire) == (100, 0, 255, False)
    assert canny.input("image").wire
    assert [str(o.type) for o in canny.outputs] == ["IMAGE"]


def test_declaration_errors_name_the_node_type():
    with pytest.raises(NodeDefinitionError, match="'Bad.Id'"):
        node("Bad.Id", title="x", category="x")(lambda ctx: None)
    with pytest.raises(NodeDefinitionError, match="default of 'x'"):
        node("a.b", title="x", category="x", inputs=[Float("x", 5.0, max=1.0)])(lambda ctx, x: None)
    with pytest.raises(NodeDefinitionError, match="must be a wire type"):
        node("a.c", title="x", category="x", outputs=[Out("n", "INT")])(lambda ctx: None)


def test_duplicate_ids_are_refused():
    nt = node("dup.node", title="x", category="x", inputs=[Wire("i", "IMAGE")])(lambda ctx, i: None)
    other = node("dup.node", title="y", category="x")(lambda ctx: None)
    reg = Registry([nt])
    with pytest.raises(NodeDefinitionError, match="already registered"):
        reg.register(other)


def test_plugins_folder_loads_and_broken_plugins_are_reported(tmp_path):
    (tmp_path / "good_pack.py").write_text(textwrap.dedent("""
        from studio.core.nodetype import Out, Wire, node

        @node("pack.double", title="Double", category="Pack", inputs=[Wire("image", "IMAGE")],
              outputs=[Out("image", "IMAGE")])
        def double(ctx, image):
            return image * 2
    """))
    (tmp_path / "broken_pack.py").write_text("raise RuntimeError('boom')\n")
    reg = Registry()
    reg.load_plugins_folder(tmp_path)
    assert "pack.double" in reg
    assert any("broken_pack" in e and "boom" in e for e in reg.errors)


def test_entry_point_packs_load(tmp_path, monkeypatch):
    pkg = tmp_path / "ep_pack"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        from studio.core.nodetype import Out, Wire, node

        @node("ep.same", title="Same", category="Pack", inputs=[Wire("image", "IMAGE")],
              outputs=[Out("image", "IMAGE")])
        def same(ctx, image):
            return image
    """))
    dist = tmp_path / "ep_pack-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-pack\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[latent_studio.nodes]\nsame = ep_pack\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry()
    reg.load_entry_points()
    assert "ep.same" in reg, reg.errors


def test_a_workflow_naming_an_unknown_type_loads_no_code(tmp_path):
    # A plugin file exists, but only the plugins folder may load it; a workflow that names its
    # node type must not import it.
    marker = tmp_path / "imported"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    code = textwrap.dedent("""
        import json, sys
        from studio.core.registry import Registry
        from studio.core.workflow import loads
        reg = Registry(); reg.load_builtins()
        doc = {"format": "latent-studio.workflow", "version": 1,
               "nodes": [{"id": "n1", "type": "evil.node", "version": "1.0.0", "params": {}}]}
        g = loads(json.dumps(doc), reg)
        assert g.node_type("n1") is None
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    assert not marker.exists()
