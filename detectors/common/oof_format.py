"""The out-of-fold answers file a detector's ``train.py`` writes and ``make retrain`` reads.

Kept free of torch and the training code, so the meta-learner can read the contract without them.
"""

OOF_ANSWERS = "oof_answers.json"
OOF_FORMAT = "tribunal.oof_answers/1"
