"""AI stills from the ComfyUI workflow-template media packages, curated.

Each template ships preview images named ``<template>-1.webp`` (and often ``-2``); the generator is in
the template name. Not every preview is a clean generated still, so every one of the 407 files was
looked at and the rules below written from what was seen:

- animated WebPs (video previews) are dropped;
- previews of audio, 3D and upscaling/restoration workflows are dropped: their pixels are not a
  generator's output of known origin (``api_topaz_image_enhance`` is an enhanced 1917 photograph,
  ``api_wavespeed_seedvr2_ai_image_fix`` carries a photographer's watermark);
- inpainting/fill previews (masks, composites), vector/SVG renders and logo cards are dropped;
- control maps (canny, depth, blur inputs), padded outpainting inputs, previews labelled
  "Before"/"After"/"Input", collages, and previews with inset thumbnails are dropped by name (listed);
- many API previews carry a vendor logo badge in the top-left corner, reaching down to ~16.5 % of the
  height; those listed keep everything below 18 % of the height (the badge is cut off);
- near-black/white letterbox bars are trimmed by the normalisation pipeline for every image.

Where a template takes an input image (edit, i2i, relight, reference, style transfer), one of its two
previews may be that input, and the packages do not say where inputs came from; such images get the
family ``ai_edit`` (the rest ``ai_t2i``) so training code can leave them out of attribution.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from PIL import Image

from benchmark.generators import parse_generator
from benchmark.normalise import MIN_SOURCE_SHORT, Box
from benchmark.sources import LICENCES, Discovery, Dropped, SourceImage, python_package_dir

PACKAGES = (
    ("comfyui-workflow-templates-media-image", "comfyui_workflow_templates_media_image"),
    ("comfyui-workflow-templates-media-api", "comfyui_workflow_templates_media_api"),
)

# Whole kinds of template, by name.
_DROP_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"audio|elevenlabs"), "preview of an audio workflow: not a generated still of known origin"),
    (re.compile(r"^3d_|hunyuan_?3d|3d_match_game"), "3D model render"),
    (
        re.compile(r"upscal|enhance|image_fix|seedvr|hitpaw|topaz|interpolation"),
        "upscaling/restoration utility: its input may be a photograph",
    ),
    (re.compile(r"inpaint|fill"), "inpainting/fill: a masked input or a composite of input and fill"),
    (re.compile(r"svg|vector"), "vector graphic rasterised by a renderer"),
    (re.compile(r"lotus_depth"), "depth-estimation workflow (input still and depth map)"),
)

# Single previews dropped after looking at them.
_LOOKED_AT: dict[str, str] = {
    # control maps and blurred control inputs
    "flux_canny_model_example-2": "control map",
    "flux_depth_lora_example-2": "control map",
    "image_qwen_Image_2512_controlnet-2": "control map",
    "image_qwen_image_instantx_controlnet-2": "control map",
    "image_qwen_image_union_control_lora-2": "control map",
    "image_z_image_turbo_fun_union_controlnet-2": "control map",
    "sd3.5_large_canny_controlnet_example-2": "control map",
    "sd3.5_large_depth-2": "control map",
    "sd3.5_large_blur-2": "control map (blurred input)",
    # before/after/input labels burnt into the image
    "hidream_e1_1-1": "before/after label",
    "hidream_e1_1-2": "before/after label",
    "hidream_e1_full-1": "before/after label",
    "hidream_e1_full-2": "before/after label",
    "flux_kontext_dev_basic-2": "'Input' label",
    # padded outpainting inputs
    "api_bfl_flux1_expand_image-2": "padded outpainting input",
    "api_bria_image_outpainting-2": "padded outpainting input",
    # collages, reference sheets, inset thumbnails
    "api_bytedance_seedream_5_0_lite_image_edit-2": "inset thumbnail",
    "api_kling_o3_image-1": "collage",
    "api_krea2_style_reference-1": "collage",
    "api_recraft_style_reference-1": "collage",
    "api_reve_image_remix-1": "collage",
    "image_flux2_fp8-1": "inset thumbnails",
    "image_flux2_klein_9b_kv_image_edit-2": "inset thumbnail",
    "image_flux2_klein_image_edit_4b_base-1": "inset thumbnails",
    "image_flux2_klein_image_edit_4b_distilled-1": "collage",
    "image_flux2_klein_image_edit_9b_base-1": "collage",
    "image_qwen_image_edit_2511-2": "inset thumbnail",
    "image_qwen_image_layered-1": "collage of layers",
    "image_qwen_image_layered_control-1": "collage of layers",
    "template_contact_sheet-step_1.app-1": "collage",
    "template_eric_seedance_5_subject_and_outfit_combine-1": "collage",
    "templates-1_click_multiple_character_angles-v1.0-1": "collage",
    "templates-1_click_multiple_scene_angles-v1.0-1": "collage",
    "templates-product_ad-v2.0-1": "two posters side by side",
    "templates-color_illustration-1": "line-art input of unknown origin",
    "api_bfl_flux_1_kontext_multiple_images_input-1": "inset thumbnails",
    "api_flux2-1": "collage",
    "api_from_photo_2_miniature-1": "collage",
    "api_openai_fashion_billboard_generator-1": "collage",
    "api_openai_image_1_multi_inputs-2": "inset thumbnail",
    "api_nano_banana_pro-2": "inset thumbnail",
    "template-multistyle-magazine-cover-nanobananapro-1": "collage",
    "templates-assemble_dieline-1": "flat packaging dieline on black",
    "templates-subject_holding_product.app-1": "collage",
    "templates-subject_product_swap.app-1": "collage",
    # logo cards
    "api_google_gemini-1": "logo card",
    "api_openai_chat-1": "logo card",
}

# Previews with a vendor logo badge in the top-left corner (looked at one by one).
_BADGED = frozenset(
    {
        "api_bfl_flux_1_kontext_max_image-1",
        "api_bfl_flux_1_kontext_max_image-2",
        "api_bfl_flux_1_kontext_multiple_images_input-2",
        "api_google_gemini_image-1",
        "api_luma_photon_i2i-1",
        "api_luma_photon_i2i-2",
        "api_openai_image_1_i2i-1",
        "api_openai_image_1_i2i-2",
        "api_openai_image_1_multi_inputs-1",
        "api_recraft_image_gen_with_color_control-1",
        "api_recraft_image_gen_with_style_control-1",
        "api_runway_reference_to_image-1",
        "api_runway_reference_to_image-2",
        "api_runway_text_to_image-1",
        "api_stability_ai_i2i-1",
        "api_stability_ai_i2i-2",
        "api_stability_ai_sd3.5_i2i-1",
        "api_stability_ai_sd3.5_i2i-2",
        "api_wan_text_to_image-1",
    }
)
BADGE_CUT: Box = (0.0, 0.18, 1.0, 1.0)

# Templates that take an input image: one of their previews may be that input.
_IMAGE_CONDITIONED = re.compile(
    r"edit|kontext|i2i|relight|light_migration|style_transfer|style_ref|reference|expand|outpaint|swap|"
    r"remix|image_to_real|uso|redux|multiple_images|multi_inputs|i2v|quick_variations|recreator|"
    r"color_illustration|revision|miniature"
)


@dataclass(frozen=True)
class Curation:
    """The decision for one preview file."""

    keep: bool
    reason: str = ""
    content_box: Box | None = None
    family: str = "ai_t2i"


def template_of(stem: str) -> str:
    """The template a preview belongs to: its stem without the ``-1``/``-2`` suffix."""
    return re.sub(r"-\d+$", "", stem)


def curate(stem: str, n_frames: int = 1) -> Curation:
    """Decide whether one preview (by file stem) is a usable AI still, and how to crop it."""
    if n_frames > 1:
        return Curation(False, "animated WebP (video preview)")
    lowered = stem.lower()
    for pattern, reason in _DROP_RULES:
        if pattern.search(lowered):
            return Curation(False, reason)
    if stem in _LOOKED_AT:
        return Curation(False, _LOOKED_AT[stem])
    family = "ai_edit" if _IMAGE_CONDITIONED.search(lowered) else "ai_t2i"
    box = BADGE_CUT if stem in _BADGED else None
    return Curation(True, content_box=box, family=family)


def find_comfy_stills() -> Discovery:
    """Curated AI stills from both ComfyUI template media packages (byte-identical twins once)."""
    found = Discovery()
    seen: set[str] = set()
    for package, module in PACKAGES:
        root = python_package_dir(module)
        if root is None:
            found.warnings.append(f"{package} is not installed: its AI stills are missing from the set")
            continue
        for path in sorted((root / "templates").glob("*.webp")):
            origin = f"templates/{path.name}"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                found.dropped.append(Dropped(package, origin, "byte-identical to a file already taken"))
                continue
            seen.add(digest)
            with Image.open(path) as im:
                n_frames = getattr(im, "n_frames", 1)
                width, height = im.size
            decision = curate(path.stem, n_frames)
            if not decision.keep:
                found.dropped.append(Dropped(package, origin, decision.reason))
                continue
            box = decision.content_box or (0.0, 0.0, 1.0, 1.0)
            short = min(width * (box[2] - box[0]), height * (box[3] - box[1]))
            if short < MIN_SOURCE_SHORT:
                found.dropped.append(Dropped(package, origin, f"too small once curated ({short:.0f} px)"))
                continue
            found.images.append(
                SourceImage(
                    path=path,
                    label="fake",
                    source=parse_generator(path.name),
                    family=decision.family,
                    origin_package=package,
                    origin_file=origin,
                    scene_key=f"comfy:{template_of(path.stem).lower()}",
                    licence=LICENCES[package],
                    content_box=decision.content_box,
                )
            )
    return found
