"""What every training run does first: its output folder, its thread count and its seeds."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch


def start_run(out_dir: str | Path, seed: int, threads: int = 0) -> tuple[Path, np.random.Generator]:
    """Create the run folder, set torch's threads (0 = leave the default) and seed Python, torch and
    numpy; returns the folder and the numpy generator the run draws its data from."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    torch.manual_seed(seed)
    return out, np.random.default_rng(seed)
