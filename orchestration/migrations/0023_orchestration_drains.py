import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    # Draining the orchestration queue (issue 23): the drains asked for (their slots),
    # and the drains' claims on the orders they route. The index a drain claims through
    # is the next migration's, built concurrently (outside a transaction, so apart).

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
        migrations.CreateModel(
            name="OrchestrationClaim",
            fields=[
                (
                    "order",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="orchestration.order",
                    ),
                ),
                ("claimed_at", models.DateTimeField()),
            ],
            options={"verbose_name": "orchestration claim"},
        ),
    ]
