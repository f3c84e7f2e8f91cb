"""Batch jobs: many uploads (or one archive) analysed in the background, each as one /detect.

    intake.py / archives.py / spool.py   an upload becomes numbered, spooled items (archives as hostile input)
    store.py / queries.py                the jobs tables: writes (the exactly-once rule) and scoped reads
    engine.py / runner.py / priority.py  the embedded engine: dispatch, one item's run, yielding to /detect
    results.py / schemas.py / errors.py  what the API answers

The routes are in gateway/routes/jobs.py; the design, settings and guarantees in docs/jobs.md.
"""
