"""Feedback on verdicts: users correct analyses, admins export the corrections as a labelled corpus.

store.py       one current feedback per (analysis, user): save (replaces), read, withdraw
agreement.py   how often verdicts agreed with the feedback given on them (GET /stats)
export.py      the corrected images as a ZIP manifest ``make benchmark CORPUS=`` imports
"""
