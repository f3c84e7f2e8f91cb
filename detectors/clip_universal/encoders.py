"""The frozen image encoders a linear probe sits on: OpenAI CLIP's image tower, or EfficientNet-Lite.

Each maps a list of square crops of the image (PIL, native pixels, ``crop_side`` at most) to [N, D]
features and never trains: ``encode_views`` prepares every crop the way the head was trained (CLIP:
the paper's centre 224 pixels without resizing; EfficientNet-Lite: the whole crop resized to each
backbone's input), so training and serving share one pipeline. Each also names the layers Grad-CAM
should hook for explanations, and how to read those layers' activations as maps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

from detectors.clip_universal.preprocessing import CLIP_MEAN, CLIP_STD, CROP_SIZE, to_model_input
from detectors.common import efficientnet_lite
from detectors.common.views import TRAINING_CROP


class FrozenEncoder(nn.Module):
    """A feature extractor with fixed weights, plus what the pipeline and Grad-CAM need to know about it."""

    name: str
    dim: int
    mean: Sequence[float]
    std: Sequence[float]
    crop_side: int  # the side of the square crops the head was trained on

    def encode_views(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        """[N, D] features of square crops, each prepared as in training."""
        raise NotImplementedError

    def cam_layers(self) -> list[nn.Module]:
        """Modules whose activations Grad-CAM weighs by their gradients."""
        raise NotImplementedError

    def cam_reshape(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Turns a hooked activation into [N, C, H, W]; None when it already is one."""
        return None

    def input_modules(self) -> list[nn.Module]:
        """Modules whose input tensor Grad-CAM marks as needing gradients (the weights are frozen)."""
        return [self]


class ClipImageEncoder(FrozenEncoder):
    """open_clip's image tower: ``forward`` is ``CLIP.encode_image(x, normalize=False)``."""

    mean, std = CLIP_MEAN, CLIP_STD
    crop_side = CROP_SIZE

    def __init__(self, visual: nn.Module, name: str):
        super().__init__()
        self.visual = visual
        self.name = name
        self.dim = int(visual.output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def encode_views(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        device = next(self.parameters()).device
        return self(to_model_input(crops, self.mean, self.std).to(device))

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
    """EfficientNet-Lite (ImageNet) with the spatial means of every block stage and the head concatenated.

    Pooling every stage rather than only the last keeps the low-level texture a probe needs to tell
    camera images from generated ones (leave-source-out on the corpus: 0.837 against 0.812 for the
    head alone, Lite0). A crop is resized to the backbone's input (224 for Lite0, 260 for Lite2).
    """

    mean, std = efficientnet_lite.MEAN, efficientnet_lite.STD
    crop_side = TRAINING_CROP

    def __init__(self, variant: str = "lite0", pretrained: bool = True):
        super().__init__()
        self.net = efficientnet_lite.build_efficientnet_lite(variant, pretrained=pretrained, num_classes=0)
        self.net.eval().requires_grad_(False)
        self.variant = variant
        self.input_size = efficientnet_lite.VARIANTS[variant].input_size
        # timm's feature_info lists the last block of each resolution: the layers Grad-CAM reads.
        self.stage_ids = [int(info["module"].split(".")[1]) for info in self.net.feature_info]
        self.name = f"efficientnet_{variant}"
        with torch.inference_mode():  # one tiny pass tells every stage's width, whatever the variant
            self.dim = int(self(torch.zeros(1, 3, 32, 32)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net.bn1(net.conv_stem(x))
        pooled = []
        for block in net.blocks:
            x = block(x)
            pooled.append(x.mean(dim=(2, 3)))
        pooled.append(net.bn2(net.conv_head(x)).mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)

    def to_input(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        """[N, 3, S, S]: every crop resized (bilinear, antialiased) to the input size, normalised."""
        size = self.input_size
        tensors = []
        for crop in crops:
            crop = crop.convert("RGB")
            if crop.size != (size, size):
                crop = crop.resize((size, size), Image.BILINEAR)
            tensors.append(TF.normalize(TF.to_tensor(crop), list(self.mean), list(self.std)))
        return torch.stack(tensors).to(next(self.parameters()).device)

    def encode_views(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        return self(self.to_input(crops))

    def cam_layers(self) -> list[nn.Module]:
        # The same layers whose means the probe reads, so the map follows the evidence the probe uses.
        return [*(self.net.blocks[i] for i in self.stage_ids), self.net.bn2]


class LiteEnsembleEncoder(FrozenEncoder):
    """Several EfficientNet-Lite backbones side by side, each on the crop at its own input size.

    Lite0 and Lite2 together scored 0.861 leave-source-out on the corpus against 0.835 and 0.849 apart
    (weights/MODEL_CARD.md): the two see the crop at different scales and depths.
    """

    mean, std = efficientnet_lite.MEAN, efficientnet_lite.STD
    crop_side = TRAINING_CROP

    def __init__(self, variants: Sequence[str] = ("lite0", "lite2"), pretrained: bool = True):
        super().__init__()
        if not variants:
            raise ValueError("at least one EfficientNet-Lite variant is needed")
        self.branches = nn.ModuleList(LiteStageEncoder(v, pretrained=pretrained) for v in variants)
        self.variants = list(variants)
        self.name = "efficientnet_" + "+".join(variants)
        self.dim = sum(b.dim for b in self.branches)

    def encode_views(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        return torch.cat([branch.encode_views(crops) for branch in self.branches], dim=1)

    def cam_layers(self) -> list[nn.Module]:
        return [layer for branch in self.branches for layer in branch.cam_layers()]

    def input_modules(self) -> list[nn.Module]:
        return list(self.branches)


class LinearProbe(nn.Module):
    """UniversalFakeDetect's model: frozen encoder, then one linear unit whose sigmoid is P(fake)."""

    def __init__(self, encoder: FrozenEncoder, fc: nn.Linear):
        super().__init__()
        if fc.in_features != encoder.dim or fc.out_features != 1:
            raise ValueError(f"head is {fc.in_features}->{fc.out_features}, encoder gives {encoder.dim}-d")
        self.encoder = encoder
        self.fc = fc

    def forward(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        """The fake logit of each square crop, [N, 1]."""
        return self.fc(self.encoder.encode_views(crops))
