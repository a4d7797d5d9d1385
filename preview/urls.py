"""URLs of the preview browser app (its pages come in a later issue)."""

from django.urls import URLPattern

app_name = "preview"
urlpatterns: list[URLPattern] = []
