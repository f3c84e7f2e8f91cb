"""Training loops on cached features: the probe head, and a partial fine-tune of the last stages.

Both weight classes inversely to their frequency: the benchmark has many more real and simulated
patches than patches of any one generator, and the target is macro-F1 over classes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from detectors.attribution_cnn.features import FROZEN_UNTIL_STAGE, POOLED_DIM, FeatureSet, stage_columns
from detectors.attribution_cnn.model import AttributionConfig, AttributionHead, AttributionNet
from detectors.common.training import progress


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def train_head(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    kind: str = "linear",
    hidden: int = 256,
    epochs: int = 60,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    batch_size: int = 128,
    seed: int = 0,
) -> AttributionHead:
    """Fit a head on fixed features with AdamW and class-balanced cross-entropy."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.from_numpy(features.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    head = AttributionHead(x.shape[1], n_classes, kind, hidden)
    head.feature_mean.copy_(x.mean(dim=0))
    head.feature_std.copy_(x.std(dim=0).clamp_min(1e-4))
    weights = balanced_class_weights(labels, n_classes)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    head.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(head(x[idx]), y[idx], weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    return head.eval()


@torch.inference_mode()
def head_logits(head: AttributionHead, features: np.ndarray) -> np.ndarray:
    return head(torch.from_numpy(features.astype(np.float32))).numpy()


def _frozen_columns(stages: Sequence[int]) -> np.ndarray:
    """Columns of the RGB pooled block holding the stages that stay frozen in a partial fine-tune."""
    frozen = [s for s in stages if s <= FROZEN_UNTIL_STAGE]
    return stage_columns(frozen)[:-1280] if frozen else np.zeros(0, dtype=int)


def _tail_features(net: AttributionNet, maps: torch.Tensor, frozen: torch.Tensor) -> torch.Tensor:
    """Head input for a batch: the frozen stages' cached pooled features, then the trainable tail's."""
    tail = net.backbone.rest_from(maps, FROZEN_UNTIL_STAGE + 1)
    picked = [tail[s - FROZEN_UNTIL_STAGE - 1] for s in net.config.stages if s > FROZEN_UNTIL_STAGE]
    return torch.cat([frozen, *picked, tail[-1]], dim=1)


def _batches(maps: Sequence[np.ndarray], batch_size: int, rng: np.random.Generator | None):
    """Index batches whose maps share one shape (views of different sizes cannot be stacked)."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, m in enumerate(maps):
        by_shape.setdefault(m.shape, []).append(i)
    batches = []
    for indices in by_shape.values():
        order = rng.permutation(indices) if rng is not None else np.asarray(indices)
        batches += [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def finetune_tail(
    probe: AttributionNet,
    train: FeatureSet,
    epochs: int = 4,
    lr_backbone: float = 1e-4,
    lr_head: float = 3e-4,
    batch_size: int = 32,
    seed: int = 0,
) -> AttributionNet:
    """Fine-tune the stages after ``FROZEN_UNTIL_STAGE``, the conv head and the head of an RGB probe.

    Starts from the probe (its head already fits the frozen features), trains on the cached stage-4
    maps, and keeps BatchNorm statistics frozen (batches of a few dozen from one small data set
    would only make them noisier).
    """
    if probe.config.npr or train.maps is None:
        raise ValueError("the partial fine-tune takes an RGB-only probe and features with stage maps")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = copy.deepcopy(probe)
    net.config = AttributionConfig(**{**probe.config.__dict__, "mode": "finetune"})
    tail_params = [
        *net.backbone.blocks[FROZEN_UNTIL_STAGE + 1 :].parameters(),
        *net.backbone.conv_head.parameters(),
        *net.backbone.bn2.parameters(),
    ]
    for p in net.parameters():
        p.requires_grad_(False)
    for p in [*tail_params, *net.head.parameters()]:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(
        [{"params": tail_params, "lr": lr_backbone}, {"params": net.head.parameters(), "lr": lr_head}],
        weight_decay=1e-2,
    )
    weights = balanced_class_weights(train.labels, len(net.classes))
    frozen_cols = _frozen_columns(net.config.stages)
    frozen = torch.from_numpy(train.pooled[:, frozen_cols])
    labels = torch.from_numpy(train.labels)
    net.eval()  # BatchNorm in inference mode throughout; dropout in the head is switched on below
    for epoch in range(epochs):
        net.head.train()
        for idx in progress(
            _batches(train.maps, batch_size, rng), desc=f"fine-tune epoch {epoch + 1}/{epochs}"
        ):
            maps = torch.from_numpy(np.stack([train.maps[i] for i in idx]).astype(np.float32))
            logits = net.head(_tail_features(net, maps, frozen[idx]))
            loss = F.cross_entropy(logits, labels[idx], weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


@torch.inference_mode()
def finetuned_logits(net: AttributionNet, features: FeatureSet, batch_size: int = 64) -> np.ndarray:
    """Logits of a partially fine-tuned net from cached stage-4 maps and frozen pooled features."""
    if features.maps is None:
        raise ValueError("features were extracted without stage maps")
    frozen = torch.from_numpy(features.pooled[:, _frozen_columns(net.config.stages)])
    out = np.zeros((len(features.labels), len(net.classes)), dtype=np.float32)
    for idx in _batches(features.maps, batch_size, None):
        maps = torch.from_numpy(np.stack([features.maps[i] for i in idx]).astype(np.float32))
        out[idx] = net.head(_tail_features(net, maps, frozen[idx])).numpy()
    return out


def rgb_block(pooled: np.ndarray) -> np.ndarray:
    """The RGB stream's columns of a pooled feature matrix."""
    return pooled[:, :POOLED_DIM]
