"""The columns of a labelled corpus manifest, the shape ``make benchmark CORPUS=...`` imports.

The shared corpus (``../shared/corpus/manifest.csv``) defines them; two writers produce manifests of
this shape: the offline package export (benchmark/package_export.py) and the gateway's feedback
export (gateway/feedback/export.py, whose container holds no benchmark/ code), so the list lives in
the SDK that both install. The importer (benchmark/corpus.py) needs ``path``, ``label`` and
``source_repo`` and reads the others when present.
"""

CORPUS_MANIFEST_COLUMNS = (
    "path",
    "label",
    "generator",
    "generator_detail",
    "source_repo",
    "source_path",
    "license",
    "evidence",
    "orig_format",
    "orig_width",
    "orig_height",
    "orig_bytes",
    "had_generator_metadata",
    "sha256",
    "phash",
)
