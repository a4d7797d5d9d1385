"""App configuration of the orders browser app."""

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """The Suite pages where people follow orders and shops work their tasks."""

    name = "orders"
