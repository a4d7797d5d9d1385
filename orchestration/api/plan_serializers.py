"""Serializers of the plans' design (``docs/plans.md``, "Designing plans"; ``docs/api.md``).

A version's steps go in and come out as the plain fields ``step_group_version_save``
takes (``selectors/step_groups.py`` ``STEP_PAYLOAD_FIELDS``): the service checks each
step whole and names every problem by its path (``steps[1].retry_intervals``), so the
serializer here only bounds the lists; a version read can be sent back as it is.
"""

from typing import TYPE_CHECKING, Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import (
    FalloutRule,
    FulfillmentAction,
    PlanScenario,
    StepDefinition,
    StepGroup,
    StepGroupVersion,
)
from ..models.plans import CALLOUT_METHODS, KEY_LENGTH, MAX_CALLOUT_TIMEOUT, QUEUE_LENGTH
from ..plans.validate import MAX_DEPENDENCIES, MAX_STEPS
from ..selectors.step_groups import STEP_PAYLOAD_FIELDS, step_group_version_steps
from ..services.plan_shapes import MAX_PRIORITY
from .serializers import ModelSerializer, Serializer

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class StepSerializer(ModelSerializer):
    """One step of a version, as the service takes it."""

    # Blank for a step that is not a callout (a URL field's format would not allow it).
    url = serializers.CharField(read_only=True, help_text="A callout's URL; blank otherwise.")
    cancel_group: "serializers.SlugRelatedField[StepGroup]" = serializers.SlugRelatedField(
        slug_field="key",
        read_only=True,
        allow_null=True,
        help_text="The key of the group run to undo the step.",
    )
    amend_group: "serializers.SlugRelatedField[StepGroup]" = serializers.SlugRelatedField(
        slug_field="key",
        read_only=True,
        allow_null=True,
        help_text="The key of the group run to adjust the step.",
    )

    class Meta:
        model = StepDefinition
        fields = [*STEP_PAYLOAD_FIELDS, "cancel_group", "amend_group"]
        read_only_fields = fields
        extra_kwargs = {
            "method": {"help_text": f"A callout's HTTP method: {', '.join(CALLOUT_METHODS)}."},
            "timeout_seconds": {
                "help_text": f"A callout's wait for its answer: 1 to {MAX_CALLOUT_TIMEOUT} seconds."
            },
            "assignment_rules": {
                "help_text": (
                    'A manual step\'s CONDITIONS assignment: `[{"condition": {...}, "assignee": '
                    '"anna" | "queue": "vip-desk", "priority": 5}]`, the highest priority '
                    "first; the first whose condition holds (none: always) gets the step."
                )
            },
        }


class DependencySerializer(Serializer):
    """``step`` waits for ``on`` (completed or skipped), within ``scope``."""

    step = serializers.CharField(help_text="The key of the waiting step.")
    on = serializers.CharField(help_text="The key of the step it waits for.")
    scope = serializers.ChoiceField(choices=["PLAN", "LINE", "CROSS_PLAN"], default="PLAN")


class StepGroupVersionSerializer(ModelSerializer):
    """One version of a group, with its steps and dependencies."""

    created_by: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    steps = serializers.SerializerMethodField()
    dependencies = serializers.SerializerMethodField()

    class Meta:
        model = StepGroupVersion
        fields = [
            "number",
            "is_active",
            "comment",
            "created_at",
            "created_by",
            "steps",
            "dependencies",
        ]
        read_only_fields = fields

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, version: StepGroupVersion) -> Any:
        return StepSerializer(self._steps(version), many=True).data

    @extend_schema_field(DependencySerializer(many=True))
    def get_dependencies(self, version: StepGroupVersion) -> list[dict[str, str]]:
        return [
            {"step": step.key, "on": dependency.depends_on.key, "scope": dependency.scope}
            for step in self._steps(version)
            for dependency in step.dependencies.all()
        ]

    def _steps(self, version: StepGroupVersion) -> list[StepDefinition]:
        # get_steps and get_dependencies read the same rows: read them once.
        cache: dict[int, list[StepDefinition]] = self.__dict__.setdefault("_steps_read", {})
        if version.pk not in cache:
            cache[version.pk] = step_group_version_steps(version)
        return cache[version.pk]


class VersionSummarySerializer(ModelSerializer):
    """One version of a group, without its steps."""

    created_by: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = StepGroupVersion
        fields = ["number", "is_active", "comment", "created_at", "created_by"]
        read_only_fields = fields


class ScenarioSerializer(ModelSerializer):
    """Which group a fulfilment gets: by action and a condition, first by priority."""

    group: "serializers.SlugRelatedField[StepGroup]" = serializers.SlugRelatedField(
        slug_field="key",
        queryset=StepGroup.objects.all(),
        help_text="The key of the step group fulfilments of this action get.",
    )
    condition = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text=(
            'On order fields: `{"clauses": [{"field", "operator", "value"}], "logic": "ALL"}`; '
            "null: every fulfilment of the action."
        ),
    )
    action = serializers.ChoiceField(choices=FulfillmentAction.choices)
    priority = serializers.IntegerField(default=0, min_value=-MAX_PRIORITY, max_value=MAX_PRIORITY)

    class Meta:
        model = PlanScenario
        fields = ["id", "group", "action", "condition", "priority", "is_active"]
        read_only_fields = ["id"]


class StepGroupSerializer(ModelSerializer):
    """A step group: its active version's number, its versions and its scenarios."""

    active_version = serializers.IntegerField(
        source="active_number", read_only=True, allow_null=True
    )
    versions = serializers.SerializerMethodField()
    scenarios = ScenarioSerializer(many=True, read_only=True)

    class Meta:
        model = StepGroup
        fields = ["key", "name", "description", "active_version", "versions", "scenarios"]
        read_only_fields = fields

    @extend_schema_field(VersionSummarySerializer(many=True))
    def get_versions(self, group: StepGroup) -> Any:
        # Prefetched newest first by selectors.step_groups.step_group_list.
        return VersionSummarySerializer(group.versions.all(), many=True).data


class StepGroupDetailSerializer(StepGroupSerializer):
    """A step group with every version's steps and dependencies."""

    @extend_schema_field(StepGroupVersionSerializer(many=True))
    def get_versions(self, group: StepGroup) -> Any:
        return StepGroupVersionSerializer(group.versions.all(), many=True).data


class StepGroupVersionInputSerializer(Serializer):
    """A new version of a group (the group is made with its first version)."""

    key = serializers.CharField(max_length=KEY_LENGTH, help_text="The group's key.")
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="What changed."
    )
    activate = serializers.BooleanField(
        default=True, help_text="New plans take this version at once (else: activate it later)."
    )
    steps = serializers.ListField(
        child=serializers.JSONField(),
        max_length=MAX_STEPS,
        help_text=(
            "The steps, in order, with the fields a version's steps are read with "
            "(`key`, `name`, `type` required)."
        ),
    )
    dependencies = serializers.ListField(
        child=serializers.JSONField(),
        max_length=MAX_DEPENDENCIES,
        required=False,
        default=list,
        help_text='`{"step": "pick", "on": "start", "scope": "PLAN"}`: pick waits for start.',
    )


class FalloutRuleSerializer(ModelSerializer):
    """The queue that receives steps failing for good; blank step key or code: any."""

    step_key = serializers.CharField(max_length=KEY_LENGTH, allow_blank=True, default="")
    error_code = serializers.CharField(max_length=100, allow_blank=True, default="")
    queue = serializers.CharField(max_length=QUEUE_LENGTH)
    priority = serializers.IntegerField(default=0, min_value=-MAX_PRIORITY, max_value=MAX_PRIORITY)

    class Meta:
        model = FalloutRule
        fields = ["id", "step_key", "error_code", "queue", "priority"]
        read_only_fields = ["id"]
