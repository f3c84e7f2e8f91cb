"""Run the detector as a service: ``python -m detectors.metadata_provenance [--port 8101]``."""

from detectors.metadata_provenance.detector import MetadataProvenanceDetector
from tribunal_sdk import serve

if __name__ == "__main__":
    serve(MetadataProvenanceDetector)
