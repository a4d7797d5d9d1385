"""URLs of the preview app (namespace ``preview``)."""

from django.urls import path

from . import views

app_name = "preview"
urlpatterns = [
    path("", views.page, name="page"),
    path("orders/", views.orders, name="orders"),
    path("products/", views.products, name="products"),
    path("backtests/", views.backtest_create, name="backtest_create"),
    path("backtests/<int:pk>/", views.backtest, name="backtest"),
]
