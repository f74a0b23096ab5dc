"""SD 1.x and SD 2.x share one latent space: their LATENTs fit each other's ports; nothing else does."""

from __future__ import annotations

import pytest

from studio.core.types import PortType, can_connect, families_fit, latents_compatible


@pytest.mark.parametrize(("out", "inp"), [("LATENT[sd15]", "LATENT[sd2]"), ("LATENT[sd2]", "LATENT[sd15]"),
                                          ("LATENT[sd15]", "LATENT"), ("LATENT", "LATENT[sdxl]")])
def test_latents_of_one_space_connect(out, inp):
    assert can_connect(out, inp)


@pytest.mark.parametrize(("out", "inp"), [("LATENT[sdxl]", "LATENT[sd15]"), ("LATENT[sd2]", "LATENT[sdxl]"),
                                          ("MODEL[sd15]", "MODEL[sd2]"), ("VAE[sd2]", "VAE[sd15]"),
                                          ("CONDITIONING[sd15]", "CONDITIONING[sd2]")])
def test_other_families_still_refuse(out, inp):
    verdict = can_connect(out, inp)
    assert not verdict and verdict.reason == f"{out} does not fit {inp}"


def test_families_fit_where_either_port_is_a_latent():
    # A family variable bound by a VAE[sd2] accepts a LATENT[sd15], and the reverse (VAE Decode's $F).
    assert families_fit(PortType.parse("LATENT[sd15]"), PortType.parse("VAE[sd2]"))
    assert families_fit(PortType.parse("VAE[sd2]"), PortType.parse("LATENT[sd15]"))
    assert not families_fit(PortType.parse("LATENT[sdxl]"), PortType.parse("VAE[sd2]"))
    assert not families_fit(PortType.parse("MODEL[sd15]"), PortType.parse("CLIP[sd2]"))
    assert families_fit(PortType.parse("MODEL[sd15]"), PortType.parse("MODEL"))


def test_latents_compatible():
    assert latents_compatible("sd15", "sd2") and latents_compatible("sd2", "sd15")
    assert latents_compatible("any", "sdxl") and latents_compatible("sdxl", "sdxl")
    assert not latents_compatible("sdxl", "sd15") and not latents_compatible("sd15", "sdxl")


# --- the graph: wires into a node whose family is bound ----------------------------------------

from studio.core.nodetype import Choice, Out, node  # noqa: E402


def _family(params, services):
    return params.get("family")


@node("test.latent_of", title="Latent of", category="Test", inputs=[Choice("family", ["sd15", "sd2", "sdxl"])],
      outputs=[Out("latent", "LATENT[$F]")], family=_family)
def latent_of(ctx, family):
    return family


@node("test.vae_of", title="VAE of", category="Test", inputs=[Choice("family", ["sd15", "sd2", "sdxl"])],
      outputs=[Out("vae", "VAE[$F]")], family=_family)
def vae_of(ctx, family):
    return family


@pytest.fixture
def graph(reg):
    from studio.core.graph import Graph

    reg.register(latent_of, replace=True)
    reg.register(vae_of, replace=True)
    return Graph(reg)


@pytest.mark.parametrize("latent_first", [True, False])
def test_vae_decode_takes_a_latent_of_the_other_sd_family(graph, latent_first):
    dec = graph.add_node("latent.vae_decode")
    lat = graph.add_node("test.latent_of", params={"family": "sd15"})
    vae = graph.add_node("test.vae_of", params={"family": "sd2"})
    wires = [(lat.id, "latent", dec.id, "latent"), (vae.id, "vae", dec.id, "vae")]
    for wire in wires if latent_first else wires[::-1]:
        graph.connect(*wire)
    assert not [p for p in graph.validate() if p.node_id == dec.id]


@pytest.mark.parametrize("latent_first", [True, False])
def test_vae_decode_refuses_an_sdxl_latent_for_an_sd_vae(graph, latent_first):
    dec = graph.add_node("latent.vae_decode")
    lat = graph.add_node("test.latent_of", params={"family": "sdxl"})
    vae = graph.add_node("test.vae_of", params={"family": "sd2"})
    first, second = ((lat.id, "latent", dec.id, "latent"), (vae.id, "vae", dec.id, "vae"))[:: 1 if latent_first else -1]
    graph.connect(*first)
    verdict = graph.check_connection(*second)
    assert not verdict and "does not fit" in verdict.reason


def test_latent_composite_joins_sd15_and_sd2_latents(graph):
    # Its destination and source share $F: sd15 and sd2 latents meet there, SDXL ones do not.
    comp = graph.add_node("latent.composite")
    a = graph.add_node("test.latent_of", params={"family": "sd15"})
    b = graph.add_node("test.latent_of", params={"family": "sd2"})
    graph.connect(a.id, "latent", comp.id, "destination")
    assert graph.check_connection(b.id, "latent", comp.id, "source")
    c = graph.add_node("test.latent_of", params={"family": "sdxl"})
    assert not graph.check_connection(c.id, "latent", comp.id, "source")
