"""The order orchestration suite: project settings, the domain app and its API.

The Celery app is imported by ``OrchestrationConfig.ready()``, not here, so the
pure packages ``orchestration.language`` and ``orchestration.engine`` can be
imported without pulling in Django or Celery.
"""
