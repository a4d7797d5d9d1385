import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from orchestration.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    # Store staff's order list (issue 23): the fulfilments' index on the order gains the
    # supplier, so "has this order a fulfilment at my shop?" is read off the index;
    # made first (concurrently on PostgreSQL), then the index on the order alone goes.
    atomic = False

    dependencies = [
        ("orchestration", "0021_list_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name="orderfulfillment",
            index=models.Index(
                fields=["order", "supplier_organization_unit"], name="fulfillment_order_supplier"
            ),
        ),
        migrations.AlterField(
            model_name="orderfulfillment",
            name="order",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="fulfillments",
                to="orchestration.order",
            ),
        ),
    ]
