"""Generator names parsed from ComfyUI preview file names, custom class folders and the rare-class merge."""

from __future__ import annotations

import pytest

from benchmark.comfy import BADGE_CUT, curate, template_of
from benchmark.generators import MIN_SCENE_GROUPS_PER_CLASS, canonical_class, merge_rare, parse_generator


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("flux_schnell-1.webp", "flux"),
        ("api_bfl_flux_pro_t2i-1.webp", "flux"),
        ("image_flux2_fp8-2.webp", "flux"),
        ("sd3.5_simple_example-1.webp", "sd35"),
        ("api_stability_ai_sd3.5_i2i-1.webp", "sd35"),
        ("sdxl_simple_example-1.webp", "sdxl"),
        ("sdxlturbo_example-1.webp", "sdxl"),
        ("hidream_i1_dev-1.webp", "hidream"),
        ("image_qwen_image-1.webp", "qwen_image"),
        ("api_openai_dall_e_3_t2i-1.webp", "gpt_image"),
        ("api_openai_image_1_t2i-1.webp", "gpt_image"),
        ("api_google_gemini_image-1.webp", "gemini"),
        ("api_bytedance_seedream4-1.webp", "seedream"),
        ("api_ideogram_v3_t2i-1.webp", "ideogram"),
        ("api_kling2_6_t2v-1.webp", "other_ai"),
        ("templates/api_bria_image_edit-1.webp", "other_ai"),
    ],
)
def test_generator_is_parsed_from_the_file_name(file_name, expected):
    assert parse_generator(file_name) == expected


def test_only_the_file_name_is_read_not_its_folder():
    assert parse_generator("flux_outputs/api_bria_image_edit-1.webp") == "other_ai"


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("flux", "flux"),
        ("sd35", "sd35"),
        ("other_ai", "other_ai"),
        ("stable-diffusion-xl", "sdxl"),
        ("dalle3", "gpt_image"),
    ],
)
def test_custom_class_folders_map_onto_the_taxonomy(folder, expected):
    assert canonical_class(folder) == expected


def test_an_unknown_custom_class_folder_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match=r"unknown generator class folder 'holiday_pics'.*flux"):
        canonical_class("holiday_pics")


def test_generators_with_too_few_scene_groups_merge_into_other_ai():
    enough = [f"g{i}" for i in range(MIN_SCENE_GROUPS_PER_CLASS)]
    mapping = merge_rare({"flux": enough, "lumina": ["a", "a", "b"], "other_ai": ["x"]})
    assert mapping == {"flux": "flux", "lumina": "other_ai", "other_ai": "other_ai"}


@pytest.mark.parametrize(
    ("stem", "reason"),
    [
        ("sd3.5_large_depth-2", "control map"),
        ("hidream_e1_full-1", "before/after label"),
        ("api_flux2-1", "collage"),
        ("api_google_gemini-1", "logo card"),
        ("flux_fill_inpaint_example-1", "inpainting"),
        ("api_topaz_image_enhance-1", "upscaling"),
        ("audio_ace_step_1_t2a_song-1", "audio"),
    ],
)
def test_unusable_previews_are_dropped_with_a_reason(stem, reason):
    decision = curate(stem)
    assert not decision.keep
    assert reason in decision.reason


def test_animated_previews_are_dropped():
    assert curate("flux_schnell-1", n_frames=12).reason.startswith("animated")


def test_badged_api_previews_lose_their_top_band_and_edits_are_flagged():
    badged = curate("api_google_gemini_image-1")
    assert badged.keep and badged.content_box == BADGE_CUT and BADGE_CUT[1] > 0.165
    assert curate("api_bfl_flux_1_kontext_pro_image-1").family == "ai_edit"
    plain = curate("flux_schnell-1")
    assert plain.keep and plain.content_box is None and plain.family == "ai_t2i"


def test_both_previews_of_a_template_share_its_scene():
    assert (
        template_of("sd3.5_simple_example-1")
        == template_of("sd3.5_simple_example-2")
        == "sd3.5_simple_example"
    )
