"""Generator names from file names, on the shared taxonomy, and the rule that merges rare ones.

The parsing itself is the SDK's ``generator_from_text`` (one taxonomy for every detector and the
benchmark); this module adds what the benchmark needs around it: a default for unnamed generators
and the merge of generators too rare to appear in every split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tribunal_sdk.taxonomy import GENERATORS, OTHER_AI, generator_from_text

# A generator keeps a class of its own only with at least this many independent scene groups (in
# practice: different ComfyUI templates): two for train, one each for val and test. Fewer, and it
# could not be in every split, so it is merged into other_ai (its name stays in the `source` column).
MIN_SCENE_GROUPS_PER_CLASS = 4


def parse_generator(file_name: str) -> str:
    """The canonical generator a file name names, or ``other_ai`` when it names none we know.

    Only the file name is read (never its folder). The taxonomy's patterns accept ``_ . -`` and spaces
    between tokens, so ``api_openai_dall_e_3_t2i-1.webp`` reads as gpt_image, ``sd3.5_large_depth-1``
    as sd35.
    """
    stem = file_name.rsplit("/", 1)[-1]
    found = generator_from_text(stem)
    return found if found is not None else OTHER_AI


def canonical_class(name: str) -> str:
    """Validate a user-supplied class folder name (``data/custom/<class>/``) onto the taxonomy.

    Accepts a canonical name (``flux``, ``sd35``, ``other_ai``) or free text the taxonomy knows
    (``stable-diffusion-xl``, ``dalle3``). Raises ValueError for anything else.
    """
    if name in GENERATORS:
        return name
    found = generator_from_text(name)
    if found is None:
        known = ", ".join(GENERATORS)
        raise ValueError(f"unknown generator class folder {name!r}: use 'real' or one of {known}")
    return found


def merge_rare(groups_per_source: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Map each generator source onto its class, merging rare generators into ``other_ai``.

    ``groups_per_source`` maps a generator name to the scene groups its images fall in.
    """
    mapping: dict[str, str] = {}
    for source, groups in groups_per_source.items():
        enough = len(set(groups)) >= MIN_SCENE_GROUPS_PER_CLASS
        mapping[source] = source if (enough or source == OTHER_AI) else OTHER_AI
    return mapping
