"""Run the detector as a service: ``python -m detectors.video_vit [--port 8105]``."""

from detectors.video_vit.detector import VideoVitDetector
from tribunal_sdk import serve

if __name__ == "__main__":
    serve(VideoVitDetector)
