"""What the gateway needs to judge a video: its settings and caps, keyframes, evidence and fusion rule.

The video plan of the detection pipeline (gateway/pipeline/video.py) uses them: settings.py (the
``video:`` section of the gateway settings), inspect.py (container header, caps, keyframes from a
temporary file), keyframes.py, fusion.py (how video-detector and keyframe evidence combine) and
schemas.py (``DetectionAnswer.video``).
"""
