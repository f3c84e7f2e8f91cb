from tribunal_sdk import serve

from detectors.latency_probe.detector import LatencyProbeDetector

if __name__ == "__main__":
    serve(LatencyProbeDetector)
