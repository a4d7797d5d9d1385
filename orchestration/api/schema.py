"""OpenAPI generation that documents the error responses every endpoint can give, and
that a request body may hold no field but those it lists (``additionalProperties: false``:
the API refuses any other, see ``serializers.RefuseUnwrittenFieldsMixin``)."""

from typing import Any, Literal

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers

from .serializers import RefuseUnwrittenFieldsMixin


class ErrorItemSerializer(serializers.Serializer):
    """One problem with a request."""

    code = serializers.CharField(help_text="Stable machine code, e.g. `required`.")
    message = serializers.CharField()
    field = serializers.CharField(
        allow_null=True,
        help_text=(
            "Path of the input at fault, e.g. `lines[1].product`; null for the whole request."
        ),
    )

    line = serializers.IntegerField(
        required=False, help_text="For a sheet: the line of the problem (1-based)."
    )
    column = serializers.IntegerField(required=False, help_text="... and its column (1-based).")
    end_line = serializers.IntegerField(required=False)
    end_column = serializers.IntegerField(
        required=False, help_text="Just past the end of the faulty text."
    )
    hint = serializers.CharField(required=False, allow_null=True)


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    code = serializers.CharField(
        help_text=(
            "Stable machine code: `invalid`, `not_authenticated`, `permission_denied`, "
            "`not_found`, `conflict`, ..."
        )
    )
    message = serializers.CharField()
    # The body's field named errors (this serializer only documents it): not .errors.
    errors = ErrorItemSerializer(many=True)  # type: ignore[assignment]


_ERRORS = {
    "400": "The request is invalid; `errors` names each faulty field.",
    "401": "No valid credentials were sent.",
    "403": "The user lacks the permission this needs; nothing was changed.",
    "404": "No such object (or page).",
    "406": "The Accept header asks for a format the API cannot give.",
    "409": "The request clashes with a concurrent change; nothing was changed.",
    "413": "The body is larger than `DATA_UPLOAD_MAX_MEMORY_SIZE`; nothing was changed.",
    "415": "The body is not JSON.",
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error shapes on every operation."""

    def _get_response_bodies(
        self, direction: Literal["request", "response"] = "response"
    ) -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "404", "406"]
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["409", "413", "415"]
        for code in codes:
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code)
                response["description"] = _ERRORS[code]
                responses[code] = response
        return responses

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(
            force_instance(serializer), RefuseUnwrittenFieldsMixin
        ):
            schema["additionalProperties"] = False
        return schema
