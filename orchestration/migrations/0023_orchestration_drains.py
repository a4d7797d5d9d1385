from django.conf import settings
from django.db import migrations, models

from orchestration.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    # Draining the orchestration queue (issue 23): the drains asked for (their slots),
    # and an index on the few orders flagged for orchestration, which a drain claims
    # oldest first; made concurrently on PostgreSQL, so no order waits for it.
    atomic = False

    dependencies = [
        ("orchestration", "0022_order_supplier_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="OrchestrationDrain",
            fields=[
                ("slot", models.PositiveSmallIntegerField(primary_key=True, serialize=False)),
                ("rung_at", models.DateTimeField(help_text="When the drain was asked for.")),
            ],
            options={"verbose_name": "orchestration drain"},
        ),
        AddIndexOnline(
            model_name="order",
            index=models.Index(
                condition=models.Q(("needs_orchestration", True)),
                fields=["id"],
                name="order_to_orchestrate",
            ),
        ),
    ]
