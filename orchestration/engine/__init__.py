"""The routing engine: pure Python, no Django, DRF or Celery.

Frozen dataclasses in (OUs, products, stock, sheets, the order, the clock),
the scored and explained decision out (see the engine issue).
``tests/test_purity.py`` fails if any module in this package imports a web or
task framework.
"""
