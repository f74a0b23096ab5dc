"""Patches that a MODEL or CLIP value carries and that are applied only while a run uses it.

A loaded UNet or text encoder is shared: the model manager caches it and every graph that loads the
same file gets the same object. Nodes that change a model (LoRA, IP-Adapter) therefore never modify
it; they return a new MODEL/CLIP value holding the base model plus a tuple of ``ModelPatch``es. The
sampler (for a UNet) and the prompt encoder (for a text encoder) apply the patches around their
work with ``applied`` and undo them after, so the cached base weights stay as they were loaded for
everyone else, and changing a strength re-runs only the patching node and what follows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Protocol


class ModelPatch(Protocol):
    """A change to a module for the duration of a ``with`` block, undone exactly on exit (also on an
    error or a cancel). ``key`` identifies the patch's content for logs and reports."""

    @property
    def key(self) -> str: ...

    def applied(self, module: Any) -> AbstractContextManager[Any]: ...


@contextmanager
def applied(module: Any, patches: Sequence[ModelPatch]) -> Iterator[None]:
    """Apply ``patches`` to ``module`` in order and undo them in reverse order on exit."""
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch.applied(module))
        yield
