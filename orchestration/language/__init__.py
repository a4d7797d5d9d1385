"""The sheet language: pure Python, no Django, DRF or Celery.

Tokens, grammar, nodes, checker, formatter and compiler live here (see the
language issue). ``tests/test_layers.py`` fails if any module in this package
imports a web or task framework.
"""
