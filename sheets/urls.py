"""URLs of the sheets browser app (its pages come in a later issue)."""

from django.urls import URLPattern

app_name = "sheets"
urlpatterns: list[URLPattern] = []
