"""The gateway's video path: caps, keyframes for the image detectors, and the video part of the answer.

``DetectionService.detect`` hands a sniffed video to ``VideoDetection.detect`` (service.py). The rule
for combining video-detector and keyframe evidence is in fusion.py.
"""
