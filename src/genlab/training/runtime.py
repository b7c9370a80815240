"""Process set-up shared by every stage: seeds, CPU threads, deterministic algorithms, device."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from genlab.config import ConfigError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


_BLAS_LIMITS = []  # keeps the threadpoolctl limit alive for the process


def set_threads(threads: int) -> int:
    """Use `threads` CPU threads (0: one per core this process may run on) in torch and in the BLAS/OpenMP
    libraries numpy, scipy and scikit-learn call (FID's covariances, KID's kernels, the logistic probe);
    returns the count."""
    n = threads
    if n == 0:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(n)
    if threads:
        from threadpoolctl import threadpool_limits

        _BLAS_LIMITS.append(threadpool_limits(limits=n))
    return n


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("params.yaml: runtime.device = 'cuda': torch sees no CUDA device; expected 'auto' or 'cpu'")
    return torch.device(name)


def configure(runtime, seed: int) -> torch.device:
    """Apply a scale's `runtime` block (threads, device, deterministic) and seed every RNG; returns the device."""
    seed_everything(seed)
    set_threads(runtime.threads)
    device = pick_device(runtime.device)
    if runtime.deterministic and device.type == "cuda":
        # CPU kernels are already deterministic at a fixed thread count; the switch costs a 1 s import
        # (torch._inductor), so it is only thrown where it changes something
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    return device
