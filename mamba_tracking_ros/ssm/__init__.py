"""State-space-model kernels: the Mamba-2 SSD scan (PyTorch CPU path, mamba_ssm GPU path) and the block.

Importing this package never imports mamba_ssm, causal_conv1d or triton; the GPU kernel is loaded lazily
on the first use of the 'cuda' backend.
"""

from .mamba2 import GatedRMSNorm, Mamba2Block, Mamba2State
from .scan import (
    BACKENDS,
    available_backends,
    cuda_unavailable_reason,
    get_default_backend,
    resolve_backend,
    set_default_backend,
    ssd_scan,
)
from .ssd_torch import DEFAULT_CHUNK_SIZE_TORCH, ssd_scan_torch, tune_cpu_allocator

__all__ = [
    "BACKENDS",
    "DEFAULT_CHUNK_SIZE_TORCH",
    "GatedRMSNorm",
    "Mamba2Block",
    "Mamba2State",
    "available_backends",
    "cuda_unavailable_reason",
    "get_default_backend",
    "resolve_backend",
    "set_default_backend",
    "ssd_scan",
    "ssd_scan_torch",
    "tune_cpu_allocator",
]
