"""CenterCrop 224 with no resize, zero padding for small images, and the CLIP normalisation."""

import numpy as np
import pytest
import torch

from detectors.clip_universal import preprocessing
from detectors.clip_universal.preprocessing import CLIP_MEAN, CLIP_STD, crop_box, to_model_input


def _normalised(pixels: np.ndarray, mean, std) -> torch.Tensor:
    """The expected model input, written out: HWC uint8 -> CHW float32 in [0, 1] -> (x - mean) / std."""
    x = torch.from_numpy(pixels.astype(np.float32) / np.float32(255.0)).permute(2, 0, 1)
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def test_clip_constants_are_openai_clip_statistics():
    import open_clip

    assert CLIP_MEAN == open_clip.OPENAI_DATASET_MEAN
    assert CLIP_STD == open_clip.OPENAI_DATASET_STD


def test_exact_tensor_for_a_known_image(make_image):
    image = make_image(260, 300)  # W x H; both larger than 224
    pixels = np.asarray(image)
    batch = to_model_input([image], CLIP_MEAN, CLIP_STD)
    assert batch.shape == (1, 3, 224, 224) and batch.dtype == torch.float32
    # round((260 - 224) / 2) = 18 columns and round((300 - 224) / 2) = 38 rows are cut before the crop.
    expected = _normalised(pixels[38:262, 18:242], CLIP_MEAN, CLIP_STD)
    torch.testing.assert_close(batch[0], expected, rtol=0, atol=1e-6)


def test_large_image_is_cropped_never_resized(make_image):
    image = make_image(1000, 800, seed=3)
    crop = np.asarray(preprocessing.center_crop(image))
    # A resize would blend neighbouring pixels; the crop keeps the original ones bit for bit.
    assert np.array_equal(crop, np.asarray(image)[288:512, 388:612])


@pytest.mark.parametrize(("width", "height"), [(225, 225), (227, 231), (224, 500), (641, 224)])
def test_crop_box_matches_the_crop_taken(width, height, make_image):
    image = make_image(width, height, seed=width)
    box = crop_box(width, height)
    window = np.asarray(image)[box.top : box.top + 224, box.left : box.left + 224]
    assert np.array_equal(np.asarray(preprocessing.center_crop(image)), window)


def test_small_image_is_zero_padded_not_upsampled(make_image):
    image = make_image(100, 150, seed=1)
    assert preprocessing.is_padded(image)
    crop = np.asarray(preprocessing.center_crop(image))
    assert crop.shape == (224, 224, 3)
    # torchvision pads (224 - side) // 2 before the image: 62 columns, 37 rows.
    assert np.array_equal(crop[37:187, 62:162], np.asarray(image))
    border = np.ones((224, 224), bool)
    border[37:187, 62:162] = False
    assert not crop[border].any()
    assert crop_box(100, 150) == preprocessing.CropBox(left=-62, top=-37)
    batch = to_model_input([image], CLIP_MEAN, CLIP_STD)
    black = -torch.tensor(CLIP_MEAN) / torch.tensor(CLIP_STD)
    torch.testing.assert_close(batch[0, :, 0, 0], black)


def test_one_side_small_is_padded_on_that_side_only(make_image):
    image = make_image(100, 300, seed=2)
    crop = np.asarray(preprocessing.center_crop(image))
    box = crop_box(100, 300)
    assert (box.left, box.top) == (-62, 38)
    assert np.array_equal(crop[:, 62:162], np.asarray(image)[38:262])


def test_batch_of_mixed_sizes_uses_the_given_statistics(make_image):
    images = [make_image(300, 300, seed=4), make_image(256, 230, seed=5)]
    batch = to_model_input(images, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert batch.shape == (2, 3, 224, 224)
    expected = _normalised(np.asarray(images[1])[3:227, 16:240], (0.5,) * 3, (0.5,) * 3)
    torch.testing.assert_close(batch[1], expected, rtol=0, atol=1e-6)
