from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    # Draining the orchestration queue (issue 23): the drains asked for (their slots),
    # and when a drain last claimed an order. A nullable column with no default: no
    # rewrite of the orders table. The index a drain claims through is the next
    # migration's, built concurrently (outside a transaction, so apart from these).

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
        migrations.AddField(
            model_name="order",
            name="orchestration_claimed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When a drain last claimed the order to route it; no other drain "
                "claims it for 2 minutes after (services/orchestration_drains.py).",
                null=True,
            ),
        ),
    ]
