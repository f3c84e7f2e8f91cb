"""``REPO_ROOT``: the Tribunal tree, the folder that holds config/, detectors/, data/ and var/.

It lives in a module of its own at the top of the tree because that is the one place every importer
reaches, everywhere the code runs:

- in the dev tree, the editable install puts this folder on ``sys.path`` (and ``python -m`` from the
  tree puts it first, so a copy of the tree finds its own root);
- in every container the code runs from /app (``PYTHONPATH=/app``) and each Dockerfile copies this
  file there. No package of ours is in every image: the gateway's has no detectors/ or benchmark/, a
  detector's no gateway/ or meta_learner/.

The SDK is in every image too, but pip-installed (not editable) there, so a path computed from its own
file is site-packages, not the tree. Nothing here may import anything: ``make lock`` runs
scripts/dependency_lock.py on the system Python before any venv exists.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
