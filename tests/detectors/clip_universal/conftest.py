"""Shared fixtures: the published fc head, a deterministic test photo, and CLIP checkpoints made here."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

# Published UniversalFakeDetect head, provided beside the repository (never copied into it).
FC_FIXTURE = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "fc_weights.pth"
TINY_CLIP = "tribunal-test-tiny-vit"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def textured_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A deterministic RGB image with edges, gradients and noise (no model sees a flat colour)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, ((xx // 16 + yy // 16) % 2) * 200], axis=-1)
    pixels = np.clip(base + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


@pytest.fixture(scope="session")
def make_image():
    """``textured_image`` for tests (conftest modules are not importable under importlib mode)."""
    return textured_image


@pytest.fixture(name="sha256_of", scope="session")
def sha256_of_fixture():
    return sha256_of


@pytest.fixture(scope="session")
def fc_fixture() -> Path:
    if not FC_FIXTURE.is_file():
        pytest.skip(f"published fc_weights.pth not present at {FC_FIXTURE}")
    return FC_FIXTURE


@dataclass(frozen=True)
class ClipCheckpoint:
    path: Path
    sha256: str
    model: torch.nn.Module  # the CLIP model the file was saved from, in float32


@pytest.fixture(scope="session")
def vit_l14_checkpoint(tmp_path_factory) -> ClipCheckpoint:
    """open_clip ViT-L-14-quickgelu, random init, saved once per session the way OpenAI stores it.

    OpenAI's state_dict keeps the matrices in float16 and the norms in float32; open_clip's
    ``convert_weights_to_fp16`` reproduces that layout. The float32 model kept for the reference
    holds exactly the float16-rounded values the file holds.
    """
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-L-14-quickgelu", pretrained=None).eval()
    open_clip.model.convert_weights_to_fp16(model)
    path = tmp_path_factory.mktemp("clip") / "ViT-L-14.pt"
    torch.save(model.state_dict(), path)
    return ClipCheckpoint(path, sha256_of(path), model.float().requires_grad_(False))


@pytest.fixture(scope="session")
def tiny_clip_name(tmp_path_factory) -> str:
    """A small ViT-architecture CLIP registered with open_clip, for the format and Grad-CAM tests."""
    config = {
        "embed_dim": 32,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
    }
    folder = tmp_path_factory.mktemp("open_clip_configs")
    (folder / f"{TINY_CLIP}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder)
    return TINY_CLIP
