"""What the example-workflow tests share: where the examples are and their stable node ids."""

from __future__ import annotations

import uuid
from pathlib import Path

FLOWS = Path(__file__).resolve().parents[2] / "resources" / "workflows"
# scripts/make_example_workflows.py derives every example node id from this namespace.
NS = uuid.UUID("5b0c8f55-3c4e-4a43-9d0a-6a5f8f3f9e10")


def example_id(flow: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"{flow}/{name}"))
