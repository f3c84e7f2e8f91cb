from detectors.latency_probe.detector import LatencyProbeDetector
from tribunal_sdk import serve

if __name__ == "__main__":
    serve(LatencyProbeDetector)
