"""Fulfillment plans, the pure core: definitions in, problems and transitions out.

Frozen dataclasses describe a step group (``model``); ``validate`` lists what is
wrong with one before it is saved; ``conditions`` parses and evaluates "Execute
On" logic such as ``(1 OR 2) AND 3``; ``retries`` says when a failed step runs
again; ``runtime`` says which steps move on, given their states and the clock.
No Django, DRF or Celery and no clock of its own (``tests/test_layers.py``), so
the services, the worker, the sweep and the tests all get the same answers. The
contract is ``docs/plans.md`` ("Pure core API").
"""
