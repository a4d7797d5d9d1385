"""App configuration of the domain app, and of the admin with the suite's admin site."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class OrchestrationConfig(AppConfig):
    """Organization units, stock, orders, sheets, fulfilments and settings."""

    name = "orchestration"
    verbose_name = "Order orchestration"

    def ready(self) -> None:
        # Binds @shared_task to the configured app in web and worker processes.
        from . import celery  # noqa: F401
        from .selectors.network import connect

        # Each process keeps a snapshot of the network; changes give it a new token.
        connect()

        # The permissions a group needs exist only after migrate has created
        # them, so the groups are (re)made then, on every database.
        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="roles_ensure")

        # Sign-in throttling counts failures wherever authenticate() reports them.
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from .signin import on_user_logged_in, on_user_login_failed

        user_login_failed.connect(on_user_login_failed, dispatch_uid="signin_failed")
        user_logged_in.connect(on_user_logged_in, dispatch_uid="signin_succeeded")


class SuiteAdminConfig(AdminConfig):
    """Django's admin, its default site the suite's (``orchestration/admin_site.py``)."""

    default_site = "orchestration.admin_site.SuiteAdminSite"


def _ensure_roles(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    from .services.roles import roles_ensure

    roles_ensure(using=using)
