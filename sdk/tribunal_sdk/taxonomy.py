"""The generator taxonomy: one list of source class names shared by every detector and the benchmark.

Detectors that attribute an image to a generator, the benchmark's file-name parser and the metadata
detector all map free text ("Stable Diffusion XL 1.0", "flux1-dev", "DALL·E 3") onto these names, so
the gateway can fuse class probabilities from different detectors by name.
"""

from __future__ import annotations

import re

REAL = "real"
OTHER_AI = "other_ai"
GAN = "gan"
# What an answer names when the image looks AI-made but no generator family is likely enough.
UNKNOWN_AI = "unknown_ai"

# Simulated generator families made by the benchmark (autoencoders that differ in up-sampling).
SIMULATED = ("sim_transposed_conv", "sim_nearest_conv", "sim_bilinear_conv", "sim_pixel_shuffle")

# (canonical name, pattern). Order matters: the first pattern that matches wins, so more specific
# names (sdxl, sd35) come before the generic Stable Diffusion family.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("sdxl", re.compile(r"sd[\s_.-]*xl|stable[\s_.-]*diffusion[\s_.-]*xl", re.I)),
    ("sd35", re.compile(r"sd[\s_.-]*3([._-]?5)?(?!\d)|stable[\s_.-]*diffusion[\s_.-]*3", re.I)),
    ("flux", re.compile(r"flux", re.I)),
    ("hidream", re.compile(r"hi[\s_.-]*dream", re.I)),
    ("qwen_image", re.compile(r"qwen", re.I)),
    ("gpt_image", re.compile(r"gpt[\s_.-]*image|dall[\s_.·-]*e|openai|chat[\s_-]*gpt|gpt[\s_.-]*4o", re.I)),
    ("midjourney", re.compile(r"midjourney|\bmj[\s_.-]?v?\d", re.I)),
    ("firefly", re.compile(r"firefly", re.I)),
    # "imagen" but not the photo-plugin maker "Imagenomic"
    ("gemini", re.compile(r"gemini|imagen(?!omic)|nano[\s_.-]*banana", re.I)),
    ("seedream", re.compile(r"seedream|seededit|bytedance", re.I)),
    ("ideogram", re.compile(r"ideogram", re.I)),
    ("recraft", re.compile(r"recraft", re.I)),
    ("kandinsky", re.compile(r"kandinsky", re.I)),
    ("chroma", re.compile(r"chroma", re.I)),
    # "lumina" but not the photo editor "Luminar"
    ("lumina", re.compile(r"lumina(?!r)", re.I)),
    (
        "sd",
        re.compile(
            r"stable[\s_.-]*diffusion|\bsd[\s_.-]?(1|2)(\.\d)?\b|\bsd[\s_.-]?v?(15|21)\b|v1[\s_.-]5|automatic1111|a1111",
            re.I,
        ),
    ),
]

GENERATORS: tuple[str, ...] = (*(name for name, _ in _PATTERNS), GAN, OTHER_AI)
ALL_CLASSES: tuple[str, ...] = (REAL, *GENERATORS, *SIMULATED)
# The names a user may see: ``real``, every generator family and ``unknown_ai``; never a ``sim_*``
# training aid.
PUBLIC_CLASSES: tuple[str, ...] = (REAL, *GENERATORS, UNKNOWN_AI)

# Labels used by labelled corpora (e.g. the shared training corpus's ``generator`` column) that the
# patterns above do not read as a family: human-made art is real; GANs are one family.
_CORPUS_ALIASES = {
    "real_art": REAL,
    "gan": GAN,
    "stylegan": GAN,
    "biggan": GAN,
    "progan": GAN,
    "unknown_ai": OTHER_AI,
    "other_diffusion": OTHER_AI,
    "imagen": "gemini",
}


def generator_from_text(text: str) -> str | None:
    """The canonical generator named in ``text``, or None when it names none we know."""
    for name, pattern in _PATTERNS:
        if pattern.search(text):
            return name
    return None


def is_simulated(name: str) -> bool:
    """True for the benchmark's simulated up-sampling families (training aids, never shown to users)."""
    return name in SIMULATED or name.startswith("sim_")


def family_of(label: str) -> str:
    """The public family of a corpus label (``sd1`` -> ``sd``, ``dalle3`` -> ``gpt_image``, ``real_art`` ->
    ``real``); a label naming no known family is ``other_ai``. Simulated names map to ``other_ai`` too."""
    key = label.strip().lower()
    if key in (REAL, *GENERATORS):
        return key
    if key in _CORPUS_ALIASES:
        return _CORPUS_ALIASES[key]
    return generator_from_text(key) or OTHER_AI
