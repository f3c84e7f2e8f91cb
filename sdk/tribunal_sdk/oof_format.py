"""The out-of-fold answers file a detector's ``train.py`` writes and ``make retrain`` reads.

Kept free of torch and the training code, and in the SDK because every side installs it: the detectors'
trainers write the file, ``make retrain`` (meta_learner/oof.py) and the gateway's drift watch
(gateway/drift.py, whose container holds no detector code) read it.
"""

OOF_ANSWERS = "oof_answers.json"
OOF_FORMAT = "tribunal.oof_answers/1"
