"""URLs of the plan design pages, under ``/sheets/plans/`` in the ``sheets`` namespace."""

from django.urls import path

from . import plan_views

urlpatterns = [
    path("", plan_views.group_list, name="plans"),
    path("new/", plan_views.edit, name="plan_new"),
    path("fallout-rules/", plan_views.fallout_rules, name="plan_fallout_rules"),
    path(
        "fallout-rules/<int:pk>/delete/",
        plan_views.fallout_rule_remove,
        name="plan_fallout_rule_delete",
    ),
    path("groups/<slug:key>/", plan_views.group, name="plan_group"),
    path("groups/<slug:key>/edit/", plan_views.edit, name="plan_edit"),
    path(
        "groups/<slug:key>/versions/<int:number>/activate/",
        plan_views.activate,
        name="plan_activate",
    ),
    path("groups/<slug:key>/scenarios/", plan_views.scenario_set, name="plan_scenario_set"),
    path(
        "groups/<slug:key>/scenarios/<int:pk>/delete/",
        plan_views.scenario_delete,
        name="plan_scenario_delete",
    ),
]
