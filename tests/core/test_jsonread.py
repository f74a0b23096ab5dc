"""Budgeted JSON reading: the value budget, numbers JSON allows but a workflow cannot hold, and paths."""

from __future__ import annotations

import json

import pytest

from studio.core import jsonread
from studio.core.jsonread import MAX_DEPTH, MAX_INT, WorkflowError, check_budget, check_values, loads_bounded


def test_the_budget_counts_values_not_punctuation_inside_strings(monkeypatch):
    monkeypatch.setattr(jsonread, "MAX_JSON_ITEMS", 50)
    prompt = "a, b: c, [d], {e}, " * 200  # a prompt full of commas is one value
    assert loads_bounded(json.dumps({"text": prompt, "n": [1, 2, 3]})) == {"text": prompt, "n": [1, 2, 3]}
    with pytest.raises(WorkflowError, match="more than 50 JSON values"):
        loads_bounded(json.dumps([{}] * 60))
    with pytest.raises(WorkflowError, match="more than 50 JSON values"):
        loads_bounded(json.dumps(["x"] * 60))


def test_the_budget_scan_survives_unterminated_and_escaped_strings():
    # Once quadratic in a naive scanner: each quote would scan to the end of the text.
    text = '"' + '\\"' * 200_000 + "," * 2_000_000
    with pytest.raises(WorkflowError, match="JSON values"):
        check_budget(text, limit=1000)  # more quotes than the budget: refused without scanning
    check_budget(text, limit=150_000)  # scanned: one unterminated string holding every comma
    with pytest.raises(WorkflowError, match="not valid JSON"):
        loads_bounded(text)
    check_budget('["a\\\\", "b,c,d"]', limit=3)  # an escaped backslash ends the string where it should


def test_numbers_a_workflow_cannot_hold_are_refused_with_their_path():
    with pytest.raises(WorkflowError, match=r"^\$\.extra\.zoom: number out of range"):
        loads_bounded('{"extra": {"zoom": 1e999}}')
    with pytest.raises(WorkflowError, match=r"^\$\.nodes\[1\]\.params\[\"odd key\"\]: number out of range"):
        loads_bounded('{"nodes": [{}, {"params": {"odd key": -1e999}}]}')
    with pytest.raises(WorkflowError, match=r"^\$\[0\]: number out of range \(about 40 digits\)"):
        loads_bounded(json.dumps([10**40]))
    assert loads_bounded(json.dumps([MAX_INT, -MAX_INT, 1e308])) == [MAX_INT, -MAX_INT, 1e308]
    with pytest.raises(WorkflowError, match="thousands of digits"):
        loads_bounded("[" + "7" * 5000 + "]")
    with pytest.raises(WorkflowError, match="NaN is not allowed"):
        loads_bounded("[NaN]")


def test_nesting_is_bounded_and_named():
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    loads_bounded(ok)
    with pytest.raises(WorkflowError, match=f"nested more than {MAX_DEPTH}"):
        loads_bounded("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(WorkflowError, match="nested"):
        loads_bounded("[" * 100_000 + "]" * 100_000)


def test_python_values_are_checked_like_parsed_ones():
    with pytest.raises(WorkflowError, match=r"\$\.a\[1\]: set is not a JSON value"):
        check_values({"a": [1, {2}]})
    with pytest.raises(WorkflowError, match="key is int"):
        check_values({"a": {3: 1}})
    with pytest.raises(WorkflowError, match=r"\$\.a: number out of range"):
        check_values({"a": float("nan")})
    check_values({"a": (1, [2.5, None, True, "x"])})
