"""attribution_cnn reads an upload as several 512-px crops: their count, the averaged logits, the heatmap.

Runs on weights made in conftest (the real ImageNet backbone, a seeded random head), so it needs no
trained default.
"""

import numpy as np
import pytest
import torch
from scipy.special import softmax

from detectors.attribution_cnn.preprocess import view_tensor
from detectors.common.views import crop_boxes
from support.media import encode
from support.textures import pink_noise
from tribunal_sdk.media import decode_image


def _upload(width: int, height: int, seed: int = 0):
    image = pink_noise(height, width, np.random.default_rng(seed), contrast=30.0)
    return decode_image(encode(image, "PNG"))


def test_a_1024_upload_is_five_crops_whose_logits_are_averaged(make_detector):
    detector = make_detector()
    item = _upload(1024, 1024)
    prediction = detector.predict_batch([item])[0]
    assert prediction.details["crops"] == 5 and prediction.details["analysed_crop_px"] == 512
    boxes = crop_boxes(1024, 1024, 5)
    with torch.inference_mode():
        logits = detector.net(torch.stack([view_tensor(item.image, b) for b in boxes])).double().numpy()
    expected = softmax(logits.mean(axis=0) / float(detector.net.temperature))
    got = np.array([prediction.class_probs[c] for c in detector.net.classes])
    assert got == pytest.approx(expected, abs=1e-6)
    assert prediction.prob_fake == pytest.approx(1.0 - prediction.class_probs["real"], abs=1e-9)
    assert prediction.details["predicted_source"] in ("flux", "sd")


def test_the_heatmap_covers_the_whole_image_not_just_the_centre(make_detector):
    detector = make_detector()
    item = _upload(1024, 1024)
    heat = detector.explain(item, detector.predict_batch([item])[0])
    assert heat.shape == (512, 512) and heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
    # The centre 512 px window of the image is [128, 384) in the 512 px map.
    outside = np.ones_like(heat, dtype=bool)
    outside[128:384, 128:384] = False
    assert heat[outside].max() > 0.05


def test_one_crop_when_tribunal_crops_is_1(make_detector, monkeypatch):
    monkeypatch.setenv("TRIBUNAL_CROPS", "1")
    detector = make_detector()
    item = _upload(1024, 1024)
    prediction = detector.predict_batch([item])[0]
    assert prediction.details["crops"] == 1
    heat = detector.explain(item, prediction)
    assert np.all(heat[:, :120] == 0) and np.all(heat[:120, :] == 0)
    assert detector.runtime_info()["view"]["crops"] == 1


def test_a_bad_tribunal_crops_is_refused_at_load(make_detector, monkeypatch):
    monkeypatch.setenv("TRIBUNAL_CROPS", "0")
    with pytest.raises(ValueError, match="TRIBUNAL_CROPS"):
        make_detector()


def test_a_batch_of_mixed_sizes_matches_single_predictions(make_detector):
    detector = make_detector()
    items = [_upload(1024, 1024, 1), _upload(300, 700, 2), _upload(90, 70, 3)]
    batch = detector.predict_batch(items)
    singles = [detector.predict_batch([item])[0] for item in items]
    assert [p.prob_fake for p in batch] == pytest.approx([p.prob_fake for p in singles], abs=1e-5)
    assert (
        [p.details["crops"] for p in batch] == [len(crop_boxes(*i.image.size, 5)) for i in items] == [5, 3, 3]
    )
    assert batch[2].warnings and "256" in batch[2].warnings[0]
