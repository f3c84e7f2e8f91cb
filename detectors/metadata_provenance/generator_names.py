"""Map the names metadata uses for generators and tools onto the shared taxonomy.

Two questions are asked of metadata text, with different tolerances:

* ``ai_generator_in(text)`` — does a *software/tool* field (EXIF Software, XMP CreatorTool, a C2PA
  claim generator) name an AI image generator? Those fields usually name ordinary editors, so this
  only answers for names we know; ``other_ai`` when the tool is an AI tool whose model is unknown.
* ``generator_from_checkpoint(name)`` — which family does a model *checkpoint* name belong to? The
  field is already known to hold a generative model, so looser, checkpoint-style patterns apply
  (``realvisxlV40`` is an SDXL fine-tune).
"""

from __future__ import annotations

import re

from tribunal_sdk.taxonomy import OTHER_AI, generator_from_text

# AI tools and services the shared taxonomy does not name directly. Order matters: first match wins.
_TOOL_ALIASES: list[tuple[str, re.Pattern[str]]] = [
    ("gpt_image", re.compile(r"\bsora\b|bing image creator|microsoft designer", re.I)),
    ("gemini", re.compile(r"\bgoogle[\s_-]*ai\b|google[\s_-]*deepmind", re.I)),
    # Fooocus only runs SDXL-architecture checkpoints.
    ("sdxl", re.compile(r"fooocus", re.I)),
    ("sd", re.compile(r"stable[\s_-]*diffusion[\s_-]*web[\s_-]*ui|dreamstudio|diffusionbee", re.I)),
    ("seedream", re.compile(r"dreamina|jimeng|doubao", re.I)),
    (
        OTHER_AI,
        re.compile(
            r"novel[\s_-]*ai|comfy[\s_-]*ui|invoke[\s_-]*ai|swarm[\s_-]*ui|draw[\s_-]*things|"
            r"leonardo[\s_.-]*ai|nightcafe|\bkrea\b|\bgrok\b|\bmeta[\s_-]*ai\b|imagine with meta|"
            r"runway[\s_-]*ml|civitai|tensor\.art|stability[\s_-]*ai|hunyuan|\bkling\b|pixart",
            re.I,
        ),
    ),
]

# Checkpoint-name families the taxonomy's generic patterns miss: SDXL fine-tunes are conventionally
# suffixed "XL" (realvisxlV40, dreamshaperXL_v21) and SD 1.5/2.1 files carry "v1-5"/"v2-1".
_CHECKPOINT_ALIASES: list[tuple[str, re.Pattern[str]]] = [
    ("sdxl", re.compile(r"xl(?=[^a-z]|v\d|$)|illustrious|noob[\s_-]*ai|animagine", re.I)),
    ("sd", re.compile(r"v2[\s_.-]1", re.I)),
]


def ai_generator_in(text: str) -> str | None:
    """The canonical generator a software/tool name points to, ``other_ai`` for a known AI tool whose
    model is unknown, or None when the text names no AI generator."""
    found = generator_from_text(text)
    if found:
        return found
    for name, pattern in _TOOL_ALIASES:
        if pattern.search(text):
            return name
    return None


def generator_from_checkpoint(name: str) -> str:
    """The canonical family of a model checkpoint name; ``other_ai`` when it cannot be told."""
    found = generator_from_text(name)
    if found:
        return found
    for family, pattern in _CHECKPOINT_ALIASES:
        if pattern.search(name):
            return family
    return ai_generator_in(name) or OTHER_AI
