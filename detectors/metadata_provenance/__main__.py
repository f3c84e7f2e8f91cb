"""Run the detector as a service: ``python -m detectors.metadata_provenance [--port 8101]``."""

from tribunal_sdk import serve

from detectors.metadata_provenance.detector import MetadataProvenanceDetector

if __name__ == "__main__":
    serve(MetadataProvenanceDetector)
