"""Plumbing every ``train.py`` shares: seeding, device and thread choice, progress bars, pinning.

Kept apart from the model code so a training script reads as its method, not its bookkeeping.
"""

from __future__ import annotations

import os
import random
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from tribunal_sdk.errors import TribunalError

T = TypeVar("T")

DEFAULT_SEED = 20240604


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels where it has them."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def choose_device(requested: str = "auto") -> torch.device:
    """``auto`` takes CUDA when torch sees a GPU, else the CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def limit_threads(n: int | None = None) -> int:
    """Cap torch's intra-op threads (default: ``TRIBUNAL_TORCH_THREADS`` or 2).

    Training runs on machines shared with other work; two threads is this project's CPU budget.
    """
    n = n or int(os.environ.get("TRIBUNAL_TORCH_THREADS", "2"))
    torch.set_num_threads(n)
    return n


def progress(iterable: Iterable[T], desc: str, total: int | None = None, leave: bool = False) -> Iterator[T]:
    """A tqdm bar on stderr; quiet (but still iterating) when stderr is not a terminal and CI is set."""
    disable = bool(os.environ.get("CI")) and not sys.stderr.isatty()
    yield from tqdm(iterable, desc=desc, total=total, leave=leave, disable=disable, dynamic_ncols=True)


class SpecEditError(TribunalError, ValueError):
    """detector.yaml does not have the line a training script expected to update."""

    status_code = 422
    code = "spec_not_editable"


def pin_weight(spec_file: Path, weight_file: str, sha256: str) -> None:
    """Write ``sha256`` into the ``weights:`` entry for ``weight_file`` in a detector.yaml.

    Edits the one line in place so the file's comments and layout survive (a YAML round trip would
    drop them). The entry must read ``- file: <name>`` followed by a ``sha256:`` line.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    text = spec_file.read_text()
    pattern = re.compile(
        r"(-\s*file:\s*" + re.escape(weight_file) + r"\s*\n\s*sha256:\s*)(\S+|\"\"|null)?", re.MULTILINE
    )
    new, count = pattern.subn(lambda m: m.group(1) + sha256, text)
    if count != 1:
        raise SpecEditError(f"{spec_file}: expected one `- file: {weight_file}` entry with a sha256 line")
    spec_file.write_text(new)


def set_spec_classes(spec_file: Path, classes: list[str]) -> None:
    """Rewrite the one-line ``classes: [...]`` entry of a detector.yaml."""
    text = spec_file.read_text()
    new, count = re.subn(
        r"^classes:\s*\[[^\]]*\]", "classes: [" + ", ".join(classes) + "]", text, flags=re.MULTILINE
    )
    if count != 1:
        raise SpecEditError(f"{spec_file}: expected one single-line `classes: [...]` entry")
    spec_file.write_text(new)
