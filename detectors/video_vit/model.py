"""Cross-Efficient-ViT (Coccomini, Messina, Gennaro, Falchi, ICIAP 2022).

Two EfficientNet branches read the same 224x224 face: the "small-patch" branch taps the end of the
network (1280 channels at 7x7, after the head), the "large-patch" branch taps an early block (24
channels at 56x56). Each feature map is cut into patches, embedded as tokens with a CLS token, and a
multi-scale encoder alternates a transformer per branch with cross-attention in which each branch's
CLS token attends to the other branch's patch tokens (the CrossViT scheme, Chen et al., ICCV 2021).
Each CLS token gets a LayerNorm + Linear head; the two logits are summed.

Module and attribute names follow the published checkpoint (``sm_image_embedder.efficient_net...``,
``sm_image_embedder.to_patch_embedding.1``, ``multi_scale_encoder.layers.{i}.{0,1,2}...``,
``sm_mlp_head.1``), so ``cross_efficient_vit.pth`` loads with ``strict=True``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from detectors.video_vit.efficientnet import (
    NUM_BLOCKS,
    EfficientNet,
    Variant,
    block_out_channels,
    block_stride,
)


class BranchConfig(BaseModel):
    """One EfficientNet branch and its token embedding."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dim: int = Field(gt=0, description="token width")
    patch_size: int = Field(gt=0, description="side of a square patch of the tapped feature map")
    run_blocks: int = Field(ge=1, le=NUM_BLOCKS, description="EfficientNet blocks run before the tap")
    use_head: bool = Field(description="apply the 1x1 conv head (1280 channels) after the blocks")
    pos_tokens: int = Field(gt=1, description="rows of the position embedding (CLS + patches, or more)")
    enc_depth: int = Field(ge=1)
    enc_heads: int = Field(ge=1)
    enc_dim_head: int = Field(ge=1)
    enc_mlp_dim: int = Field(ge=1)


class CrossEfficientViTConfig(BaseModel):
    """Every size of the model; PUBLISHED is the paper's, DEFAULT the smaller one trained here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    image_size: int = 224
    num_classes: int = 1
    backbone: Variant = "b0"
    # The published branches keep all 16 blocks, the head and ImageNet's 1000-way _fc as parameters
    # even where the forward pass never uses them; the checkpoint holds them, so a strict load needs them.
    keep_unused_layers: bool = True
    # What the model does to its raw BGR 0-255 input before the trunk. The published model takes it
    # as it is; ImageNet-initialised Lite0 branches expect RGB scaled to [-1, 1].
    input_transform: Literal["none", "bgr_to_rgb_unit"] = "none"
    depth: int = Field(ge=1, description="multi-scale encoder blocks")
    sm: BranchConfig
    lg: BranchConfig
    cross_attn_depth: int = Field(ge=1)
    cross_attn_heads: int = Field(ge=1)
    cross_attn_dim_head: int = Field(ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    emb_dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _patches_fit(self) -> CrossEfficientViTConfig:
        for label, branch in (("sm", self.sm), ("lg", self.lg)):
            side = self.feature_side(branch)
            if side % branch.patch_size:
                raise ValueError(
                    f"{label}: a {side}x{side} feature map does not split into {branch.patch_size}-px patches"
                )
            if self.num_patches(branch) + 1 > branch.pos_tokens:
                raise ValueError(f"{label}: pos_tokens {branch.pos_tokens} < {self.num_patches(branch) + 1}")
        return self

    def feature_side(self, branch: BranchConfig) -> int:
        return self.image_size // block_stride(branch.run_blocks)

    def channels(self, branch: BranchConfig) -> int:
        return 1280 if branch.use_head else block_out_channels(branch.run_blocks)

    def num_patches(self, branch: BranchConfig) -> int:
        return (self.feature_side(branch) // branch.patch_size) ** 2


# The paper's configuration (configs/architecture.yaml of the published code), checked against the
# checkpoint's shapes: sm patch embedding [192, 1280*7*7 = 62720], lg [384, 24*56*56 = 75264]. The
# published code taps the small branch at "block 16" (all blocks + head: 1280 x 7 x 7) and the large
# one at "block 1", where its loop stops after running blocks 0..2 (24 x 56 x 56). It sizes the
# position embedding from image_size // patch_size (1024 + 1 and 16 + 1 rows) though each branch then
# yields a single patch; only the first two rows are used, all are in the checkpoint.
PUBLISHED = CrossEfficientViTConfig(
    name="cross_efficient_vit (published)",
    backbone="b0",
    keep_unused_layers=True,
    input_transform="none",
    depth=4,
    sm=BranchConfig(
        dim=192,
        patch_size=7,
        run_blocks=16,
        use_head=True,
        pos_tokens=(224 // 7) ** 2 + 1,
        enc_depth=2,
        enc_heads=8,
        enc_dim_head=64,
        enc_mlp_dim=2048,
    ),
    lg=BranchConfig(
        dim=384,
        patch_size=56,
        run_blocks=3,
        use_head=False,
        pos_tokens=(224 // 56) ** 2 + 1,
        enc_depth=3,
        enc_heads=8,
        enc_dim_head=64,
        enc_mlp_dim=2048,
    ),
    cross_attn_depth=2,
    cross_attn_heads=8,
    cross_attn_dim_head=64,
    dropout=0.15,
    emb_dropout=0.15,
)

# The default trained here: the same two taps and the same encoder design, smaller. Lite0 branches,
# because Lite0 is the only ImageNet EfficientNet that installs offline (no B0 weights exist here);
# 7x7 patches of tokens instead of one big patch per branch, so the token embeddings stay small
# (1280 -> 128 and 24*8*8 -> 160 instead of 62720 -> 192 and 75264 -> 384) for a few thousand
# training faces; one encoder block; only the layers the forward pass uses.
DEFAULT = CrossEfficientViTConfig(
    name="cross_efficient_vit_small (trained here)",
    backbone="lite0",
    keep_unused_layers=False,
    input_transform="bgr_to_rgb_unit",
    depth=1,
    sm=BranchConfig(
        dim=128,
        patch_size=1,
        run_blocks=16,
        use_head=True,
        pos_tokens=7 * 7 + 1,
        enc_depth=1,
        enc_heads=4,
        enc_dim_head=32,
        enc_mlp_dim=256,
    ),
    lg=BranchConfig(
        dim=160,
        patch_size=8,
        run_blocks=3,
        use_head=False,
        pos_tokens=7 * 7 + 1,
        enc_depth=1,
        enc_heads=4,
        enc_dim_head=32,
        enc_mlp_dim=320,
    ),
    cross_attn_depth=1,
    cross_attn_heads=4,
    cross_attn_dim_head=32,
    dropout=0.1,
    emb_dropout=0.1,
)


class PreNorm(nn.Module):
    """LayerNorm on the query stream only; a cross-attention context goes in as it is (as published)."""

    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor | bool | None) -> torch.Tensor:
        return self.fn(self.norm(x), **kwargs)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        # Indices 0 and 3 are the checkpoint's ``net.0`` and ``net.3``.
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    """Multi-head attention; with ``kv_include_self`` the queries also attend to themselves."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, kv_include_self: bool = False
    ) -> torch.Tensor:
        context = x if context is None else context
        if kv_include_self:
            context = torch.cat((x, context), dim=1)
        q = self.to_q(x)
        k, v = self.to_kv(context).chunk(2, dim=-1)
        q, k, v = (self._split_heads(t) for t in (q, k, v))
        # softmax(q k^T / sqrt(dim_head)) v, as in the reference; no dropout on the attention map.
        out = F.scaled_dot_product_attention(q, k, v)
        batch, heads, tokens, dim_head = out.shape
        return self.to_out(out.transpose(1, 2).reshape(batch, tokens, heads * dim_head))

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        batch, tokens, inner = t.shape
        return t.view(batch, tokens, self.heads, inner // self.heads).transpose(1, 2)


class Transformer(nn.Module):
    """Pre-norm transformer encoder with a final LayerNorm."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PreNorm(dim, Attention(dim, heads, dim_head, dropout)),
                    PreNorm(dim, FeedForward(dim, mlp_dim, dropout)),
                ]
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class ProjectInOut(nn.Module):
    """Run ``fn`` in another token width: project in, apply, project back (identity when widths match)."""

    def __init__(self, dim_in: int, dim_out: int, fn: nn.Module):
        super().__init__()
        self.fn = fn
        needed = dim_in != dim_out
        self.project_in = nn.Linear(dim_in, dim_out) if needed else nn.Identity()
        self.project_out = nn.Linear(dim_out, dim_in) if needed else nn.Identity()

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor | bool | None) -> torch.Tensor:
        return self.project_out(self.fn(self.project_in(x), **kwargs))


class CrossTransformer(nn.Module):
    """Each branch's CLS token attends to the other branch's patch tokens (and itself)."""

    def __init__(self, sm_dim: int, lg_dim: int, depth: int, heads: int, dim_head: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    ProjectInOut(
                        sm_dim, lg_dim, PreNorm(lg_dim, Attention(lg_dim, heads, dim_head, dropout))
                    ),
                    ProjectInOut(
                        lg_dim, sm_dim, PreNorm(sm_dim, Attention(sm_dim, heads, dim_head, dropout))
                    ),
                ]
            )
            for _ in range(depth)
        )

    def forward(self, sm_tokens: torch.Tensor, lg_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sm_cls, sm_patches = sm_tokens[:, :1], sm_tokens[:, 1:]
        lg_cls, lg_patches = lg_tokens[:, :1], lg_tokens[:, 1:]
        for sm_attend_lg, lg_attend_sm in self.layers:
            sm_cls = sm_attend_lg(sm_cls, context=lg_patches, kv_include_self=True) + sm_cls
            lg_cls = lg_attend_sm(lg_cls, context=sm_patches, kv_include_self=True) + lg_cls
        return torch.cat((sm_cls, sm_patches), dim=1), torch.cat((lg_cls, lg_patches), dim=1)


class MultiScaleEncoder(nn.Module):
    def __init__(self, cfg: CrossEfficientViTConfig):
        super().__init__()

        def encoder(branch: BranchConfig) -> Transformer:
            return Transformer(
                branch.dim,
                branch.enc_depth,
                branch.enc_heads,
                branch.enc_dim_head,
                branch.enc_mlp_dim,
                cfg.dropout,
            )

        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    encoder(cfg.sm),
                    encoder(cfg.lg),
                    CrossTransformer(
                        cfg.sm.dim,
                        cfg.lg.dim,
                        cfg.cross_attn_depth,
                        cfg.cross_attn_heads,
                        cfg.cross_attn_dim_head,
                        cfg.dropout,
                    ),
                ]
            )
            for _ in range(cfg.depth)
        )

    def forward(self, sm_tokens: torch.Tensor, lg_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for sm_enc, lg_enc, cross in self.layers:
            sm_tokens, lg_tokens = cross(sm_enc(sm_tokens), lg_enc(lg_tokens))
        return sm_tokens, lg_tokens


class PatchesToRows(nn.Module):
    """(B, C, H, W) -> (B, patches, p*p*C): row-major patches, each flattened as (p1, p2, C)."""

    def __init__(self, patch_size: int):
        super().__init__()
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.patch_size
        x = x.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (h // p) * (w // p), p * p * c)


class ImageEmbedder(nn.Module):
    """EfficientNet trunk -> patch tokens -> [CLS, patches] + position embedding."""

    def __init__(self, cfg: CrossEfficientViTConfig, branch: BranchConfig):
        super().__init__()
        full = cfg.keep_unused_layers
        self.branch = branch
        self.efficient_net = EfficientNet(
            cfg.backbone,
            n_blocks=NUM_BLOCKS if full else branch.run_blocks,
            with_head=full or branch.use_head,
            num_classes=1000 if full else None,
        )
        patch_dim = cfg.channels(branch) * branch.patch_size**2
        self.to_patch_embedding = nn.Sequential(
            PatchesToRows(branch.patch_size), nn.Linear(patch_dim, branch.dim)
        )
        self.pos_embedding = nn.Parameter(torch.randn(1, branch.pos_tokens, branch.dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, branch.dim))
        self.dropout = nn.Dropout(cfg.emb_dropout)

    def trunk(self, img: torch.Tensor) -> torch.Tensor:
        """The tapped feature map (what training caches when the trunk is frozen)."""
        return self.efficient_net.features(img, self.branch.run_blocks, self.branch.use_head)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        x = self.to_patch_embedding(features)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)
        return self.dropout(x + self.pos_embedding[:, : x.shape[1]])

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.embed(self.trunk(img))


class CrossEfficientViT(nn.Module):
    """Input: (B, 3, 224, 224) raw BGR floats in 0-255. Output: (B, num_classes) logits."""

    def __init__(self, cfg: CrossEfficientViTConfig = PUBLISHED):
        super().__init__()
        self.cfg = cfg
        self.sm_image_embedder = ImageEmbedder(cfg, cfg.sm)
        self.lg_image_embedder = ImageEmbedder(cfg, cfg.lg)
        self.multi_scale_encoder = MultiScaleEncoder(cfg)
        self.sm_mlp_head = nn.Sequential(nn.LayerNorm(cfg.sm.dim), nn.Linear(cfg.sm.dim, cfg.num_classes))
        self.lg_mlp_head = nn.Sequential(nn.LayerNorm(cfg.lg.dim), nn.Linear(cfg.lg.dim, cfg.num_classes))

    def prepare(self, bgr_255: torch.Tensor) -> torch.Tensor:
        """Apply the configured input transform (none for the published model)."""
        if self.cfg.input_transform == "bgr_to_rgb_unit":
            return bgr_255.flip(1) / 127.5 - 1.0
        return bgr_255

    def trunk_features(self, bgr_255: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prepare(bgr_255)
        return self.sm_image_embedder.trunk(x), self.lg_image_embedder.trunk(x)

    def head(self, sm_features: torch.Tensor, lg_features: torch.Tensor) -> torch.Tensor:
        """Everything after the two trunks: tokens, multi-scale encoder, the two heads summed."""
        sm_tokens = self.sm_image_embedder.embed(sm_features)
        lg_tokens = self.lg_image_embedder.embed(lg_features)
        sm_tokens, lg_tokens = self.multi_scale_encoder(sm_tokens, lg_tokens)
        return self.sm_mlp_head(sm_tokens[:, 0]) + self.lg_mlp_head(lg_tokens[:, 0])

    def forward(self, bgr_255: torch.Tensor) -> torch.Tensor:
        return self.head(*self.trunk_features(bgr_255))


def build_model(cfg: CrossEfficientViTConfig = PUBLISHED) -> CrossEfficientViT:
    """A freshly initialised Cross-Efficient-ViT (random weights) for ``cfg``."""
    return CrossEfficientViT(cfg)
