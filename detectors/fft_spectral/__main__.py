from detectors.fft_spectral.detector import FftSpectralDetector
from tribunal_sdk import serve

if __name__ == "__main__":
    serve(FftSpectralDetector)
