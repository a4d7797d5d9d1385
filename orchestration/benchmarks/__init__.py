"""Benchmarks, out of the packages that serve requests: ``manage.py bench`` runs them.

``worlds`` holds the generated worlds (pure, importable by the engine's tests);
each other module times one part of the system (docs/performance.md).
"""
