from detectors.clip_universal.detector import ClipUniversalDetector
from tribunal_sdk import serve

if __name__ == "__main__":
    serve(ClipUniversalDetector)
