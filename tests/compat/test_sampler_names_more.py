"""ComfyUI and A1111 sampler and scheduler names that are ours too carry over as they are; a pair our
Sampler node cannot run falls back to the 'normal' scheduler with a note."""

from __future__ import annotations

import pytest

from studio.compat import import_comfyui
from studio.compat.names import (
    A1111_SAMPLERS,
    A1111_SCHEDULES,
    COMFY_SAMPLERS,
    COMFY_SCHEDULERS,
    NO_KARRAS,
    SPACING_SAMPLERS,
    sampler_pair,
)
from studio.compat.report import ImportReport
from studio.core.registry import default_registry

from .test_importer_defects import _sampler, default_template

EXACT_SAMPLERS = ("lms", "dpm_2", "dpm_2_ancestral", "dpmpp_2s_ancestral", "deis", "dpmpp_3m_sde", "uni_pc", "uni_pc_bh2")
EXACT_SCHEDULERS = ("exponential", "simple", "sgm_uniform", "ddim_uniform", "beta")


def _pair(sampler: str, scheduler: str) -> tuple[tuple[str, str], list[str]]:
    report = ImportReport("test")
    pair = sampler_pair(sampler, scheduler, report, "KSampler #3", samplers=COMFY_SAMPLERS, schedulers=COMFY_SCHEDULERS)
    return pair, report.of_kind("approximated")


def test_the_spacing_tables_follow_the_sampler_node():
    from studio.diffusion import schedulers

    combos = set(schedulers.combinations())
    for spacing, samplers in SPACING_SAMPLERS.items():
        assert {s for s, k in combos if k == spacing} == samplers, spacing
    assert {s for s, k in combos if k == "exponential"} == set(schedulers.SAMPLERS) - NO_KARRAS
    assert {*EXACT_SAMPLERS} <= set(schedulers.SAMPLERS) and {*EXACT_SCHEDULERS} <= set(schedulers.SCHEDULERS)


def test_comfyui_names_that_are_ours_carry_over_without_notes():
    for name in EXACT_SAMPLERS:
        assert _pair(name, "normal") == ((name, "normal"), []), name
    for name in EXACT_SCHEDULERS:
        assert _pair("euler", name) == (("euler", name), []), name
    assert _pair("dpmpp_3m_sde", "beta") == (("dpmpp_3m_sde", "beta"), [])
    assert _pair("dpm_2_ancestral", "karras") == (("dpm_2_ancestral", "karras"), [])
    # Only the device of the noise differs.
    (pair, notes) = _pair("dpmpp_3m_sde_gpu", "exponential")
    assert pair == ("dpmpp_3m_sde", "exponential") and notes == [
        "KSampler #3: sampler 'dpmpp_3m_sde_gpu' → 'dpmpp_3m_sde' (the same method with CPU noise)"]


def test_a_pair_the_sampler_node_cannot_run_falls_back_with_a_note():
    pair, notes = _pair("lms", "beta")
    assert pair == ("lms", "normal")
    assert notes == ["KSampler #3: lms cannot run the beta scheduler here (only dpmpp_2m, dpmpp_2m_sde, "
                     "dpmpp_2s_ancestral, dpmpp_3m_sde, euler, heun, lcm can); scheduler 'normal' is used"]
    assert _pair("heun", "sgm_uniform")[0] == ("heun", "normal")
    pair, notes = _pair("ddim", "exponential")
    assert pair == ("ddim", "normal") and "ddim has no exponential variant here" in notes[0]


def test_every_translated_pair_runs_on_the_sampler_node():
    from studio.diffusion import schedulers

    combos = set(schedulers.combinations())
    for table, schedules in ((COMFY_SAMPLERS, COMFY_SCHEDULERS), (A1111_SAMPLERS, A1111_SCHEDULES)):
        for sampler in table:
            for scheduler in schedules:
                report = ImportReport("test")
                pair = sampler_pair(sampler, scheduler, report, "here", samplers=table, schedulers=schedules)
                assert pair in combos, (sampler, scheduler, pair)


@pytest.mark.parametrize(("sampler", "scheduler"), [("lms", "exponential"), ("dpmpp_2m", "beta"), ("euler", "sgm_uniform")])
def test_an_imported_ksampler_keeps_them(sampler, scheduler):
    doc = default_template("fixed")
    ks = next(n for n in doc["nodes"] if n["type"] == "KSampler")
    ks["widgets_values"][4:6] = [sampler, scheduler]
    graph, report = import_comfyui(doc, default_registry())
    params = _sampler(graph).params
    assert (params["sampler"], params["scheduler"]) == (sampler, scheduler)
    assert not [n for n in report.of_kind("approximated") if sampler in n or scheduler in n]
