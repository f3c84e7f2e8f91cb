"""The Cross-Efficient-ViT architecture: the published checkpoint's key names and shapes load strictly."""

from __future__ import annotations

import pytest
import torch

from detectors.common.efficientnet_lite import build_efficientnet_lite, pretrained_file
from detectors.video_vit.efficientnet import EfficientNet
from detectors.video_vit.model import DEFAULT, PUBLISHED, CrossEfficientViT, PatchesToRows
from detectors.video_vit.weights import load_published
from tribunal_sdk import WeightsUnavailable

# Shapes stated for the published cross_efficient_vit.pth (shared/DATA.md), plus structural keys that
# follow from the published configuration (depth 4; sm encoder 2 layers, lg 3; cross-attention 2; 8 heads
# of 64; MLP 2048) and from EfficientNet-B0 (block 15: 192 -> 1152 expanded, SE squeeze 48).
PUBLISHED_SHAPES = {
    "sm_image_embedder.efficient_net._conv_stem.weight": (32, 3, 3, 3),
    "sm_image_embedder.to_patch_embedding.1.weight": (192, 62720),
    "lg_image_embedder.to_patch_embedding.1.weight": (384, 75264),
    "sm_mlp_head.1.weight": (1, 192),
    "lg_mlp_head.1.weight": (1, 384),
    "sm_image_embedder.pos_embedding": (1, 1025, 192),
    "lg_image_embedder.pos_embedding": (1, 17, 384),
    "sm_image_embedder.cls_token": (1, 1, 192),
    "lg_image_embedder.efficient_net._fc.weight": (1000, 1280),
    "lg_image_embedder.efficient_net._blocks.15._se_expand.weight": (1152, 48, 1, 1),
    "sm_image_embedder.efficient_net._conv_head.weight": (1280, 320, 1, 1),
    "multi_scale_encoder.layers.3.0.layers.1.0.fn.to_q.weight": (512, 192),
    "multi_scale_encoder.layers.3.1.layers.2.1.fn.net.3.weight": (384, 2048),
    "multi_scale_encoder.layers.0.1.norm.weight": (384,),
    "multi_scale_encoder.layers.2.2.layers.1.0.project_in.weight": (384, 192),
    "multi_scale_encoder.layers.2.2.layers.1.0.fn.fn.to_kv.weight": (1024, 384),
    "multi_scale_encoder.layers.2.2.layers.1.1.project_out.weight": (384, 192),
}


@pytest.fixture(scope="module")
def published() -> CrossEfficientViT:
    torch.manual_seed(0)
    return CrossEfficientViT(PUBLISHED).eval()


def test_published_config_has_the_checkpoint_key_names_and_shapes(published):
    state = published.state_dict()
    for key, shape in PUBLISHED_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("multi_scale_encoder.layers.4.") for k in state)  # depth 4
    assert not any(".layers.0.0.layers.2." in k for k in state)  # sm encoder: 2 layers
    assert not any("multi_scale_encoder.layers.0.2.layers.2." in k for k in state)  # cross depth 2
    # The published file is ~405 MB of fp32 (DATA.md); so is this state_dict.
    n_bytes = sum(t.numel() * t.element_size() for t in state.values())
    assert 400e6 < n_bytes < 410e6


def test_each_branch_is_a_complete_efficientnet_b0(published):
    trunk = published.lg_image_embedder.efficient_net
    # EfficientNet-B0 has 5,288,548 parameters (Tan & Le 2019 / efficientnet_pytorch), classifier included.
    assert sum(p.numel() for p in trunk.parameters()) == 5_288_548
    assert len(trunk._blocks) == 16


def test_a_state_dict_saved_with_the_published_names_loads_strictly(published, tmp_path):
    # Build what the published training code saves (a plain state_dict, every key and shape) from
    # independent random values, write it the way torch.save does, and load it back strictly.
    generator = torch.Generator().manual_seed(1)
    saved = {
        k: (torch.randn(v.shape, generator=generator) if v.is_floating_point() else torch.zeros_like(v))
        for k, v in published.state_dict().items()
    }
    path = tmp_path / "cross_efficient_vit.pth"
    torch.save(saved, path)
    loaded = load_published(path).model
    state = loaded.state_dict()
    assert state.keys() == saved.keys()
    for key in ("sm_image_embedder.to_patch_embedding.1.weight", "lg_mlp_head.1.weight"):
        assert torch.equal(state[key], saved[key])

    # A DataParallel "module." prefix is accepted; a missing or extra key is not.
    torch.save({f"module.{k}": v for k, v in saved.items()}, path)
    assert load_published(path).model.state_dict().keys() == saved.keys()
    broken = dict(saved)
    broken.pop("sm_mlp_head.1.bias")
    broken["extra.weight"] = torch.zeros(1)
    torch.save(broken, path)
    with pytest.raises(WeightsUnavailable, match=r"sm_mlp_head\.1\.bias"):
        load_published(path)


def test_published_forward_taps_and_output(published):
    image = torch.rand(1, 3, 224, 224) * 255  # raw BGR 0-255: the published model takes it as is
    with torch.inference_mode():
        sm, lg = published.trunk_features(image)
        logits = published.head(sm, lg)
    assert sm.shape == (1, 1280, 7, 7)  # after all 16 blocks and the head
    assert lg.shape == (1, 24, 56, 56)  # after block 2 (the published "block 1" tap runs blocks 0..2)
    assert logits.shape == (1, 1) and torch.isfinite(logits).all()


def test_patch_rows_follow_the_published_rearrange_pattern():
    # 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)', written out with loops.
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    rows = PatchesToRows(2)(x)
    assert rows.shape == (2, 6, 12)
    for b in range(2):
        for h in range(2):
            for w in range(3):
                expected = [
                    x[b, c, h * 2 + p1, w * 2 + p2] for p1 in range(2) for p2 in range(2) for c in range(3)
                ]
                assert rows[b, h * 3 + w].tolist() == [float(v) for v in expected]


def test_lite0_imagenet_weights_load_into_the_same_layout_and_match_timm():
    # The offline Lite0 weights are stored in efficientnet_pytorch's layout: a strict load proves the
    # module names; equal logits with timm's tf_efficientnet_lite0 prove padding, order and activations.
    ours = EfficientNet("lite0").eval()
    ours.load_state_dict(torch.load(pretrained_file("lite0"), weights_only=True), strict=True)
    reference = build_efficientnet_lite("lite0", pretrained=True, num_classes=1000).eval()
    x = torch.rand(2, 3, 224, 224) * 2 - 1
    with torch.inference_mode():
        assert torch.allclose(ours(x), reference(x), atol=1e-4)


def test_default_config_is_smaller_and_keeps_only_the_layers_it_runs():
    model = CrossEfficientViT(DEFAULT)
    state = model.state_dict()
    assert not any(k.startswith("lg_image_embedder.efficient_net._blocks.3.") for k in state)
    assert not any("._fc." in k for k in state)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 6_000_000  # fp16 file well under the 25 MB budget
    with torch.inference_mode():
        assert model.eval()(torch.rand(2, 3, 224, 224) * 255).shape == (2, 1)
