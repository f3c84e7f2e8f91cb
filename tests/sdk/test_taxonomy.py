import pytest

from tribunal_sdk.taxonomy import ALL_CLASSES, GENERATORS, OTHER_AI, REAL, SIMULATED, generator_from_text


@pytest.mark.parametrize(
    "text,expected",
    [
        ("flux1-dev-fp8", "flux"),
        ("sd3.5_large_turbo", "sd35"),
        ("SD 3 Medium", "sd35"),
        ("Stable Diffusion XL 1.0", "sdxl"),
        ("sdxl_base_1.0", "sdxl"),
        ("v1-5-pruned-emaonly", "sd"),
        ("stable diffusion 2.1", "sd"),
        ("HiDream-I1-Full", "hidream"),
        ("qwen_image_edit", "qwen_image"),
        ("DALL·E 3", "gpt_image"),
        ("gpt-image-1", "gpt_image"),
        ("Adobe Firefly", "firefly"),
        ("Imagen 3", "gemini"),
        ("Lumina-Image-2.0", "lumina"),
    ],
)
def test_generator_names_map_to_canonical_classes(text, expected):
    assert generator_from_text(text) == expected


@pytest.mark.parametrize(
    "text", ["Luminar Neo", "Imagenomic Portraiture", "Adobe Photoshop 25.0", "Canon EOS R5", ""]
)
def test_ordinary_software_names_no_generator(text):
    assert generator_from_text(text) is None


def test_class_lists_are_consistent():
    assert ALL_CLASSES[0] == REAL
    assert OTHER_AI in GENERATORS
    assert set(SIMULATED) <= set(ALL_CLASSES)
    assert len(set(ALL_CLASSES)) == len(ALL_CLASSES)
