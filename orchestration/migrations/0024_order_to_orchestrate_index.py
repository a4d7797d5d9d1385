from django.db import migrations, models

from orchestration.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    # The few orders flagged for orchestration, which a drain claims oldest first
    # (issue 23): a partial index, made concurrently on PostgreSQL so no order waits.
    atomic = False

    dependencies = [("orchestration", "0023_orchestration_drains")]

    operations = [
        AddIndexOnline(
            model_name="order",
            index=models.Index(
                condition=models.Q(("needs_orchestration", True)),
                fields=["id"],
                name="order_to_orchestrate",
            ),
        ),
    ]
