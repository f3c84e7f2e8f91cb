from detectors.attribution_cnn.detector import AttributionCnnDetector
from tribunal_sdk import serve

if __name__ == "__main__":
    serve(AttributionCnnDetector)
