"""URLs of the Suite's order pages (namespace ``orders``)."""

from django.urls import path

from . import shops, views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("<int:pk>/", views.order_detail, name="detail"),
    path("<int:pk>/plan.json", views.order_plan_json, name="plan_json"),
    path("<int:pk>/change/", views.order_change_page, name="change"),
    path(
        "<int:pk>/plan-steps/<int:step_pk>/done/",
        views.plan_step_done_page,
        name="plan_step_done",
    ),
    path("<int:pk>/runs/<int:attempt>/", views.run, name="run"),
    path(
        "<int:pk>/retry-orchestration/",
        views.order_retry_orchestration,
        name="retry_orchestration",
    ),
    path("stores/", shops.store_list, name="stores"),
    path("stores/<int:unit_id>/tasks/", shops.store_tasks, name="tasks"),
    path("stores/<int:unit_id>/tasks/<int:pk>/start/", shops.task_start, name="task_start"),
    path("stores/<int:unit_id>/tasks/<int:pk>/pick/", shops.task_pick, name="task_pick"),
    path("stores/<int:unit_id>/tasks/<int:pk>/pack/", shops.task_pack, name="task_pack"),
    path("stores/<int:unit_id>/tasks/<int:pk>/ship/", shops.task_ship, name="task_ship"),
    path("stores/<int:unit_id>/tasks/<int:pk>/decline/", shops.task_decline, name="task_decline"),
    path("export-failures/", views.export_failures, name="export_failures"),
    path("<int:pk>/return/", views.return_create, name="return_create"),
    path("<int:pk>/return-form/", views.return_form, name="return_form"),
    path("<int:pk>/return-form.pdf", views.return_form_pdf, name="return_form_pdf"),
    path(
        "<int:pk>/fulfillments/<int:fulfillment_pk>/receive/",
        views.return_receive,
        name="return_receive",
    ),
    path("export-failures/<int:pk>/retry/", views.export_retry, name="export_retry"),
    path("fallout/", views.fallout, name="fallout"),
    path("fallout/act/", views.fallout_act, name="fallout_act"),
]
