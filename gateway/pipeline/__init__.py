"""The detection pipeline's steps, shared by every media type; a plan per media type says what differs.

``DetectionPipeline.detect`` (gateway/detection.py) runs them in this order:

    upload.py      check_upload: byte cap, sniff (once), an image's header and pixel cap
    plan.py        the media type's plan (image.py, video.py): admitted(), fingerprint() (sha256)
    selection.py   select: the plan's detector groups, narrowed by the request's ``models``
    plan.py        gather(): each group's inputs (the file; the video and its keyframes) out, outcomes back
    checks.py      require_answers: 503 when nobody answered or a hard dependency failed
    fusing.py      the request's fusion (plan.fuse() decides what is fused with what), attribution
    answer.py      build_answer: one DetectionAnswer for images and videos alike
"""
