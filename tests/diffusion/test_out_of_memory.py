"""What counts as running out of memory: CUDA's error and the CPU allocator's, nothing else."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from studio.diffusion.vae import _oom  # noqa: E402


def test_cuda_and_cpu_allocation_failures_count_as_out_of_memory():
    assert _oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert _oom(RuntimeError("[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: can't allocate "
                             "memory: you tried to allocate 68719476736 bytes. Error code 12"))


def test_other_errors_do_not():
    assert not _oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"))
    assert not _oom(ValueError("out of memory"))
