import pytest

from studio.core.types import Kind, PortType, can_connect


def test_same_kind_connects():
    assert can_connect("IMAGE", "IMAGE")
    assert can_connect("MODEL[sd15]", "MODEL")
    assert can_connect("MODEL", "MODEL[sdxl]")
    assert can_connect("LATENT[sdxl]", "LATENT[sdxl]")


def test_kind_mismatch_has_a_human_reason():
    verdict = can_connect("IMAGE", "MASK")
    assert not verdict
    assert verdict.reason == "IMAGE output cannot feed a MASK input"


def test_family_mismatch_has_a_human_reason():
    verdict = can_connect("CONTROL_NET[sdxl]", "CONTROL_NET[sd15]")
    assert not verdict
    assert verdict.reason == "CONTROL_NET[sdxl] does not fit CONTROL_NET[sd15]"


def test_parameters_are_not_wire_inputs():
    verdict = can_connect("IMAGE", "INT")
    assert not verdict and "parameter" in verdict.reason


def test_parse_and_print_round_trip():
    for text in ["IMAGE", "MASK", "MODEL[sd15]", "CLIP[sd2]", "VAE[sdxl]", "CONTROL_NET[sdxl]", "SEED"]:
        assert str(PortType.parse(text)) == text
    assert PortType.parse("MODEL[any]") == PortType(Kind.MODEL)


@pytest.mark.parametrize("bad", ["IMAGE[sd15]", "MODEL[sd3]", "NOPE", "model", ""])
def test_bad_types_are_refused(bad):
    with pytest.raises(ValueError):
        PortType.parse(bad)


def test_every_required_kind_exists():
    names = {k.value for k in Kind}
    assert {"IMAGE", "MASK", "LATENT", "CONDITIONING", "MODEL", "CLIP", "VAE", "CONTROL_NET",
            "INT", "FLOAT", "STRING", "BOOL", "ENUM", "SEED", "FILE"} <= names
