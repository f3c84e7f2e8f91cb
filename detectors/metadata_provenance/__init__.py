"""Metadata provenance detector: C2PA, generator text chunks, EXIF and XMP; no weights."""

from detectors.metadata_provenance.detector import MetadataProvenanceDetector

__all__ = ["MetadataProvenanceDetector"]
