"""The frozen image encoders a linear probe sits on: OpenAI CLIP's image tower, or EfficientNet-Lite.

Both map a normalised [N, 3, 224, 224] batch to [N, D] features and never train. Each also names the
layers Grad-CAM should hook for explanations, and how to read those layers' activations as maps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from detectors.clip_universal.preprocessing import CLIP_MEAN, CLIP_STD
from detectors.common import efficientnet_lite


class FrozenEncoder(nn.Module):
    """A feature extractor with fixed weights, plus what the pipeline and Grad-CAM need to know about it."""

    name: str
    dim: int
    mean: Sequence[float]
    std: Sequence[float]

    def cam_layers(self) -> list[nn.Module]:
        """Modules whose activations Grad-CAM weighs by their gradients."""
        raise NotImplementedError

    def cam_reshape(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Turns a hooked activation into [N, C, H, W]; None when it already is one."""
        return None


class ClipImageEncoder(FrozenEncoder):
    """open_clip's image tower: ``forward`` is ``CLIP.encode_image(x, normalize=False)``."""

    mean, std = CLIP_MEAN, CLIP_STD

    def __init__(self, visual: nn.Module, name: str):
        super().__init__()
        self.visual = visual
        self.name = name
        self.dim = int(visual.output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def cam_layers(self) -> list[nn.Module]:
        # The last block's input norm: after the final block only the class token reaches the output,
        # so the patch tokens' gradients vanish there; one block earlier they carry the evidence.
        return [self.visual.transformer.resblocks[-1].ln_1]

    def cam_reshape(self) -> Callable[[torch.Tensor], torch.Tensor]:
        grid_h, grid_w = self.visual.grid_size

        def tokens_to_map(tokens: torch.Tensor) -> torch.Tensor:
            # [N, 1 + h*w, C] with the class token first (open_clip runs its transformer batch-first).
            patches = tokens[:, 1:, :]
            return patches.reshape(tokens.shape[0], grid_h, grid_w, -1).permute(0, 3, 1, 2)

        return tokens_to_map


class LiteStageEncoder(FrozenEncoder):
    """EfficientNet-Lite (ImageNet) with the spatial means of every feature stage concatenated.

    Pooling several stages rather than only the last kept more of the low-level texture a probe needs
    to tell camera images from generated ones: DATA.md's trial saw +0.01-0.03 ROC-AUC from it.
    """

    mean, std = efficientnet_lite.MEAN, efficientnet_lite.STD

    def __init__(self, variant: str = "lite0", pretrained: bool = True):
        super().__init__()
        self.net = efficientnet_lite.build_efficientnet_lite(variant, pretrained=pretrained, num_classes=0)
        self.net.eval().requires_grad_(False)
        # timm's feature_info lists the last block of each resolution (blocks.0, 1, 2, 4, 6 for Lite).
        self.stage_ids = [int(info["module"].split(".")[1]) for info in self.net.feature_info]
        self.name = f"efficientnet_{variant}"
        self.dim = sum(info["num_chs"] for info in self.net.feature_info) + self.net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net.bn1(net.conv_stem(x))
        pooled = []
        for index, block in enumerate(net.blocks):
            x = block(x)
            if index in self.stage_ids:
                pooled.append(x.mean(dim=(2, 3)))
        pooled.append(net.bn2(net.conv_head(x)).mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)

    def cam_layers(self) -> list[nn.Module]:
        # The same layers whose means the probe reads, so the map follows the evidence the probe uses.
        return [*(self.net.blocks[i] for i in self.stage_ids), self.net.bn2]


class LinearProbe(nn.Module):
    """UniversalFakeDetect's model: frozen encoder, then one linear unit whose sigmoid is P(fake)."""

    def __init__(self, encoder: FrozenEncoder, fc: nn.Linear):
        super().__init__()
        if fc.in_features != encoder.dim or fc.out_features != 1:
            raise ValueError(f"head is {fc.in_features}->{fc.out_features}, encoder gives {encoder.dim}-d")
        self.encoder = encoder
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fake logit, [N, 1]."""
        return self.fc(self.encoder(x))
