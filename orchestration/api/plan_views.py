"""API of the plans' design: step groups and their versions, scenarios, fallout rules.

``Plans:View`` reads, ``Plans:Design`` writes (``api/permissions.py``
``PlansPermission``). A save never edits a version: ``POST /api/step-groups/``
makes the group's next one, checked whole by ``services/step_groups.py``; a
refusal is the API's error shape with every problem's path
(``steps[1].retry_intervals``) and writes nothing.
"""

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from ..models import FalloutRule, PlanScenario, StepGroup
from ..selectors.step_groups import (
    fallout_rule_list,
    plan_scenario_list,
    step_group_get,
    step_group_list,
    step_group_version_get,
)
from ..services.step_groups import (
    fallout_rule_delete,
    fallout_rule_set,
    fallout_rule_update,
    plan_scenario_delete,
    plan_scenario_set,
    plan_scenario_update,
    step_group_version_activate,
    step_group_version_save,
)
from .permissions import PlansPermission
from .plan_serializers import (
    FalloutRuleSerializer,
    ScenarioSerializer,
    StepGroupDetailSerializer,
    StepGroupSerializer,
    StepGroupVersionInputSerializer,
    StepGroupVersionSerializer,
)
from .serializers import NoInputSerializer

VERSION_EXAMPLE = OpenApiExample(
    "Two auto tasks, the second after the first",
    value={
        "key": "Invoicing",
        "name": "Invoice and notify",
        "comment": "First version",
        "steps": [
            {"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "succeed"},
            {
                "key": "notify",
                "name": "Notify",
                "type": "AUTO_TASK",
                "handler": "succeed",
                "retry_kind": "STAGGERED",
                "retry_intervals": [1, 5, 15],
            },
        ],
        "dependencies": [{"step": "notify", "on": "invoice", "scope": "PLAN"}],
    },
    request_only=True,
)


class StepGroupViewSet(viewsets.GenericViewSet):
    """Step groups with their versions; saving makes a new version."""

    permission_classes = [PlansPermission]
    serializer_class = StepGroupSerializer
    lookup_field = "key"
    # An identifier (the model's own pattern): anything else, NUL included, is a 404.
    lookup_value_regex = "[A-Za-z_][A-Za-z0-9_]{0,99}"
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        return step_group_list()

    def list(self, request: Request) -> Response:
        """Every step group by name, with its versions (without steps) and scenarios."""
        page = self.paginate_queryset(self.get_queryset())
        data = StepGroupSerializer(page, many=True).data
        return self.get_paginated_response(data)

    @extend_schema(responses={200: StepGroupDetailSerializer})
    def retrieve(self, request: Request, key: str) -> Response:
        """One group with every version's steps and dependencies, newest first."""
        return Response(StepGroupDetailSerializer(self._group(key)).data)

    @extend_schema(
        request=StepGroupVersionInputSerializer,
        responses={201: StepGroupVersionSerializer},
        examples=[VERSION_EXAMPLE],
        summary="Save a new version of a step group",
        description=(
            "The group `key`'s next version (the group is made with its first), active at "
            "once unless `activate` is false; plans in flight keep theirs. Refused whole, "
            "writing nothing, on any problem: each in `errors` with its path, e.g. "
            "`steps[1].retry_intervals`, `steps[0].condition.logic` (with `column`) or "
            "`steps[2].dependencies` for a cycle (`a -> b -> a`). Needs Plans:Design."
        ),
    )
    def create(self, request: Request) -> Response:
        serializer = StepGroupVersionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user if request.user.is_authenticated else None
        version = step_group_version_save(
            key=data["key"],
            name=data["name"],
            description=data["description"],
            comment=data["comment"],
            activate=data["activate"],
            steps=data["steps"],
            dependencies=data["dependencies"],
            user=user,
        )
        return Response(StepGroupVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("number", int, OpenApiParameter.PATH)],
        responses={200: StepGroupVersionSerializer},
        summary="Activate a version of a step group",
        description=(
            "New plans of the group take this version; plans in flight keep theirs. "
            "Needs Plans:Design."
        ),
    )
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>[0-9]{1,9})/activate")
    def activate(self, request: Request, key: str, number: str) -> Response:
        if request.data:  # no body: whatever is sent is not for it
            NoInputSerializer(data=request.data).is_valid(raise_exception=True)
        version = step_group_version_get(self._group(key), int(number))
        if version is None:
            raise NotFound(f"Step group {key!r} has no version {number}.")
        version = step_group_version_activate(version_id=version.pk)
        return Response(StepGroupVersionSerializer(version).data)

    def _group(self, key: str) -> StepGroup:
        group = step_group_get(key)
        if group is None:
            raise NotFound(f"There is no step group {key!r}.")
        return group


class _ServiceModelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [PlansPermission]
    filter_backends: list[Any] = []

    def _merged(self, serializer: BaseSerializer) -> dict[str, Any]:
        """The validated fields over the stored ones (a PATCH sends some)."""
        instance = serializer.instance
        stored = type(serializer)(instance).data if instance is not None else {}
        return {**stored, **dict(serializer.validated_data)}


class PlanScenarioViewSet(_ServiceModelViewSet):
    """Which group a fulfilment gets: by action and a condition on the order, first by
    priority. Creating one for a group and action it already has replaces it."""

    serializer_class = ScenarioSerializer

    def get_queryset(self) -> Any:
        return plan_scenario_list()

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = plan_scenario_set(
            group_key=data["group"].key,
            action=data["action"],
            condition=data.get("condition"),
            priority=data.get("priority", 0),
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        data = self._merged(serializer)
        scenario: PlanScenario = serializer.instance  # type: ignore[assignment]  # an update
        group = data["group"]
        serializer.instance = plan_scenario_update(
            scenario_id=scenario.pk,
            group_key=group.key if isinstance(group, StepGroup) else group,
            action=data["action"],
            condition=data.get("condition"),
            priority=data.get("priority", 0),
            is_active=data.get("is_active", True),
        )

    def perform_destroy(self, instance: PlanScenario) -> None:
        plan_scenario_delete(scenario_id=instance.pk)


class FalloutRuleViewSet(_ServiceModelViewSet):
    """The queue that receives steps failing for good, by step key and error code (blank:
    any), first by priority. Creating one for a pair it already has replaces it."""

    serializer_class = FalloutRuleSerializer

    def get_queryset(self) -> Any:
        return fallout_rule_list()

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = fallout_rule_set(**dict(serializer.validated_data))

    def perform_update(self, serializer: BaseSerializer) -> None:
        data = self._merged(serializer)
        rule: FalloutRule = serializer.instance  # type: ignore[assignment]  # an update
        serializer.instance = fallout_rule_update(
            rule_id=rule.pk,
            step_key=data["step_key"],
            error_code=data["error_code"],
            queue=data["queue"],
            priority=data["priority"],
        )

    def perform_destroy(self, instance: FalloutRule) -> None:
        fallout_rule_delete(rule_id=instance.pk)
