"""Reading UniversalFakeDetect's published weights unchanged: an OpenAI CLIP checkpoint and ``fc_weights.pth``.

OpenAI ships ``ViT-L-14.pt`` as a TorchScript archive whose tensors are mostly float16; converted copies
are plain state_dicts (sometimes wrapped in ``{"state_dict": ...}`` with a ``module.`` prefix). These
are the forms open_clip's own OpenAI loader accepts, and we accept the same, with two safety rules:
the file's sha256 must match its pin before anything is deserialised, and a non-TorchScript file is
read with ``weights_only=True`` (no arbitrary unpickling).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import open_clip
import torch
from torch import nn

from tribunal_sdk import WeightsUnavailable
from tribunal_sdk.detector import verify_sha256

# The digest OpenAI publishes for ViT-L-14.pt: it is the folder name in the official download URL
# (openaipublic.azureedge.net/clip/models/<sha256>/ViT-L-14.pt), which openai/CLIP checks on download.
OPENAI_VIT_L14_SHA256 = "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"
# fc_weights.pth of Ojha et al. (CVPR 2023): a plain state_dict, weight [1, 768] and bias [1].
UFD_FC_SHA256 = "477100745713bcc957beb2b40859536859b6483fd6301b3b9293151b194c7847"
DEFAULT_CLIP_MODEL = "ViT-L-14-quickgelu"

# Scalars that OpenAI's TorchScript state_dict carries next to the tensors; not weights.
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


class WeightsFormatError(WeightsUnavailable):
    """A weight file is present and pinned but does not hold what the detector needs."""


def is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives are zip files with a ``<root>/code/`` folder; torch.save zips have none."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/")[1:2] == ["code"] for name in archive.namelist())


def read_clip_checkpoint(path: Path, sha256: str | None) -> dict[str, torch.Tensor]:
    """All tensors of a CLIP checkpoint, keyed as in OpenAI's state_dict (``visual.conv1.weight``, ...).

    Raises WeightsUnavailable when the file is missing or its digest differs from ``sha256``, and
    WeightsFormatError when it cannot be read as a TorchScript archive or a weights-only state_dict.
    """
    if not sha256:
        raise WeightsUnavailable(
            f"no sha256 pinned for the CLIP weights {path}; set TRIBUNAL_CLIP_WEIGHTS_SHA256 to the file's digest"
        )
    verify_sha256(path, sha256)
    if is_torchscript_archive(path):
        # The TorchScript loader rebuilds the module from its own serialised IR, not from Python
        # pickles; we only read its tensors and never run its code. The digest is already checked.
        try:
            state: object = dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        except Exception as exc:  # the TorchScript loader raises many types on a corrupt archive
            raise WeightsFormatError(f"{path.name}: unreadable TorchScript archive: {exc}") from exc
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch.load raises many types on a foreign or corrupt file
            raise WeightsFormatError(
                f"{path.name} is neither a TorchScript archive nor a state_dict loadable with "
                f"weights_only=True: {exc}"
            ) from exc
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise WeightsFormatError(f"{path.name} holds a {type(state).__name__}, not a state_dict")
    tensors = {}
    for key, value in state.items():
        name = key.removeprefix("module.")
        if name in _OPENAI_EXTRA_KEYS or not isinstance(value, torch.Tensor):
            continue
        tensors[name] = value
    return tensors


def build_clip_image_encoder(model_name: str, checkpoint: Mapping[str, torch.Tensor]) -> nn.Module:
    """open_clip's image tower for ``model_name`` holding the checkpoint's ``visual.*`` tensors, frozen.

    Its forward is exactly ``CLIP.encode_image(x, normalize=False)``: the projected embedding, not
    L2-normalised. Every tensor must be present with its shape (strict load); float16 tensors from
    OpenAI files are widened to float32, as openai/CLIP does on CPU.
    """
    config = open_clip.get_model_config(model_name)
    if config is None:
        raise WeightsFormatError(f"unknown open_clip architecture {model_name!r}")
    visual_state = {
        key.removeprefix("visual."): tensor.float() if tensor.is_floating_point() else tensor
        for key, tensor in checkpoint.items()
        if key.startswith("visual.")
    }
    if not visual_state:
        raise WeightsFormatError("the checkpoint has no visual.* tensors: not a CLIP checkpoint")
    # Built on the meta device (no memory, no random init), then the file's tensors are assigned in
    # place; the text tower is never materialised. open_clip.CLIP is OpenAI's layout: configs with a
    # custom or Hugging Face text tower are not OpenAI checkpoints and are refused.
    try:
        with torch.device("meta"):
            clip = open_clip.CLIP(**config)
    except TypeError as exc:
        raise WeightsFormatError(f"{model_name} is not an OpenAI-style CLIP architecture: {exc}") from exc
    visual = clip.visual
    try:
        visual.load_state_dict(visual_state, strict=True, assign=True)
    except RuntimeError as exc:
        raise WeightsFormatError(f"the checkpoint does not fit open_clip {model_name}: {exc}") from exc
    left_on_meta = [name for name, t in [*visual.named_parameters(), *visual.named_buffers()] if t.is_meta]
    if left_on_meta:
        raise WeightsFormatError(f"{model_name}: tensors not provided by the checkpoint: {left_on_meta[:5]}")
    return visual.eval().requires_grad_(False)


def load_linear_head(path: Path, sha256: str | None, in_features: int) -> nn.Linear:
    """A ``Linear(in_features, 1)`` from a plain state_dict with exactly ``weight`` [1, D] and ``bias`` [1].

    That is the format of UniversalFakeDetect's ``fc_weights.pth``; the default heads trained here use it
    too. Anything else (other keys, other shapes, pickled objects) is refused with a message saying why.
    """
    verify_sha256(path, sha256)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types on a foreign or corrupt file
        raise WeightsFormatError(
            f"{path.name} is not a state_dict loadable with weights_only=True: {exc}"
        ) from exc
    if not isinstance(state, Mapping):
        raise WeightsFormatError(f"{path.name} holds a {type(state).__name__}, not a state_dict")
    if set(state) != {"weight", "bias"}:
        raise WeightsFormatError(
            f"{path.name} must hold exactly the keys 'weight' and 'bias' (a linear probe); found {sorted(state)}"
        )
    weight, bias = state["weight"], state["bias"]
    if not (isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)):
        raise WeightsFormatError(f"{path.name}: 'weight' and 'bias' must be tensors")
    if tuple(weight.shape) != (1, in_features) or tuple(bias.shape) != (1,):
        raise WeightsFormatError(
            f"{path.name}: expected weight [1, {in_features}] and bias [1] for a {in_features}-d encoder; "
            f"found weight {list(weight.shape)} and bias {list(bias.shape)}"
        )
    head = nn.Linear(in_features, 1)
    head.load_state_dict({"weight": weight.float(), "bias": bias.float()})
    return head.eval().requires_grad_(False)
