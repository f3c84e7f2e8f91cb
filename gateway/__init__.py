"""Tribunal gateway: fans each upload out to the detector services and fuses their scores.

Start it with ``python -m gateway``; build it in code with ``gateway.app.create_app()``.
"""
