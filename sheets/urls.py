"""URLs of the Suite's sheet pages (namespace ``sheets``)."""

from django.urls import include, path

from . import plan_urls, views

app_name = "sheets"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("new/", views.create, name="create"),
    path("check/", views.check, name="check"),
    path("export/", views.export, name="export"),
    path("import/", views.import_sheets, name="import"),
    path("import/apply/", views.import_apply, name="import_apply"),
    path("organization-units/", views.organization_units, name="organization_units"),
    path("preferences/theme/", views.theme, name="theme"),
    path("<int:pk>/", views.editor, name="editor"),
    path("<int:pk>/visual/", views.visual_editor, name="visual"),
    path("<int:pk>/activate/", views.activate, name="activate"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/revisions/", views.revisions, name="revisions"),
    path("<int:pk>/revisions/diff/", views.diff, name="diff"),
    path("<int:pk>/revisions/<int:number>/restore/", views.restore, name="restore"),
    path("<int:pk>/duplicate/", views.duplicate, name="duplicate"),
    path("<int:pk>/compare/", views.compare, name="compare"),
    # The plans' design (sheets/plan_views.py).
    path("plans/", include(plan_urls)),
]
