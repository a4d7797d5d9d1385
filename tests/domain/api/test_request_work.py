"""What an API request does once instead of every time: serializer fields built once
per class (``api/built_fields.py``), a user's permissions read in one query
(``permission_backend.py``). Each saving must leave every request its own."""

import gc
import weakref
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers as drf
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orchestration.api.built_fields import BuiltFieldsCache
from orchestration.api.serializers import (
    PRELOADED,
    OrderInputSerializer,
    OrderSerializer,
    StockLevelInputSerializer,
)
from orchestration.models import Order, Product
from orchestration.permissions import ADD_ORDER, VIEW_ORDER, codename_of

pytestmark = pytest.mark.django_db

ADDRESS = {"city": "Amsterdam", "country_id": "NL"}


def _token_client(user: User) -> APIClient:
    """A client that authenticates each request with a token, as integrations do: the
    user is read afresh every time (``force_authenticate`` would keep one object)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _body(backend_id: str, *products: str) -> dict[str, Any]:
    return {
        "backend_id": backend_id,
        "shipping_address": ADDRESS,
        "lines": [{"product": product, "quantity": 1} for product in products],
    }


# --- Serializer fields --------------------------------------------------------------


def test_each_serializer_gets_fields_of_its_own_bound_to_it_and_its_context() -> None:
    first = OrderInputSerializer(data={}, context={"who": "first"})
    second = OrderInputSerializer(data={}, context={"who": "second"})
    product_of = [s.fields["lines"].child.fields["product"] for s in (first, second)]  # type: ignore[attr-defined]
    assert product_of[0] is not product_of[1]
    assert [field.context["who"] for field in product_of] == ["first", "second"]
    assert [field.root for field in product_of] == [first, second]
    assert first.fields["lines"].child.parent is first.fields["lines"]  # type: ignore[attr-defined]
    addresses = [s.fields["shipping_address"] for s in (first, second)]
    assert addresses[0] is not addresses[1]
    assert addresses[0].fields["city"] is not addresses[1].fields["city"]  # type: ignore[attr-defined]
    assert addresses[0].fields["city"].source == "shipping_city"  # type: ignore[attr-defined]


def test_a_serializer_class_builds_its_fields_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[type] = []
    model_fields = drf.ModelSerializer.get_fields

    def counted(self: drf.ModelSerializer) -> dict[str, drf.Field]:
        built.append(type(self))
        return model_fields(self)

    monkeypatch.setattr(drf.ModelSerializer, "get_fields", counted)
    monkeypatch.setattr(BuiltFieldsCache, "_built_fields", weakref.WeakKeyDictionary())
    for _ in range(3):
        assert list(OrderSerializer().fields)[:3] == ["id", "backend_id", "intent"]
    assert built.count(OrderSerializer) == 1


def test_a_serializer_class_made_at_run_time_leaves_no_prototypes_behind() -> None:
    made = type("Made", (StockLevelInputSerializer,), {})
    assert list(made().fields) == ["organization_unit", "product", "quantity_on_hand"]
    kept = len(BuiltFieldsCache._built_fields)
    del made
    gc.collect()
    assert len(BuiltFieldsCache._built_fields) == kept - 1


def test_one_serializer_s_changed_fields_are_not_the_next_one_s() -> None:
    first = StockLevelInputSerializer()
    first.fields["quantity_on_hand"].required = False
    first.fields.pop("product")
    second = StockLevelInputSerializer()
    assert second.fields["quantity_on_hand"].required is True
    assert "product" in second.fields


def test_one_request_s_looked_up_products_are_not_the_next_request_s(
    integrator: User, shop: Any
) -> None:
    Product.objects.bulk_create(Product(backend_id=code, name=code) for code in ("HAT", "CAP"))
    client = _token_client(integrator)
    # Two products: the lines' products are looked up together, before validation.
    assert client.post("/api/orders/", _body("ONE", "HAT", "CAP"), format="json").status_code == 201
    Product.objects.filter(backend_id="CAP").update(backend_id="CAP-RETIRED")
    # Looked up again: nothing kept from the request before answers.
    response = client.post("/api/orders/", _body("TWO", "CAP"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "does_not_exist", "message": "Unknown product 'CAP'.", "field": "lines[0].product"}
    ]
    assert list(Order.objects.values_list("backend_id", flat=True)) == ["ONE"]


def test_the_bulk_import_s_preloaded_references_reach_each_copied_line_field() -> None:
    serializer = OrderInputSerializer(data={}, context={PRELOADED: "preloaded"})
    line_fields = serializer.fields["lines"].child.fields  # type: ignore[attr-defined]
    assert line_fields["product"].context[PRELOADED] == "preloaded"


# --- Permissions ------------------------------------------------------------------------


def _permission(name: str) -> Permission:
    return Permission.objects.get(
        content_type__app_label="orchestration", codename=codename_of(name)
    )


def test_a_user_s_own_and_group_permissions_are_read_in_one_query() -> None:
    group = Group.objects.create(name="Order readers")
    group.permissions.add(_permission(VIEW_ORDER))
    user = User.objects.create_user("mixed")
    user.groups.add(group)
    user.user_permissions.add(_permission(ADD_ORDER))
    user = User.objects.get(pk=user.pk)
    with CaptureQueriesContext(connection) as queries:
        assert user.get_all_permissions() == {VIEW_ORDER, ADD_ORDER}
        assert user.has_perm(VIEW_ORDER) and user.has_perm(ADD_ORDER)
        assert not user.has_perm("orchestration.delete_order")
    assert len(queries) == 1


def test_superusers_hold_every_permission_and_inactive_users_none() -> None:
    boss = User.objects.create_superuser("boss")
    assert boss.get_all_permissions() == {
        f"{app}.{codename}"
        for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    gone = User.objects.create_user("gone", is_active=False)
    gone.user_permissions.add(_permission(ADD_ORDER))
    assert User.objects.get(pk=gone.pk).get_all_permissions() == set()


def test_a_permission_granted_or_taken_counts_from_the_next_request(shop: Any) -> None:
    Product.objects.create(backend_id="HAT", name="Hat")
    user = User.objects.create_user("newcomer")
    client = _token_client(user)
    refused = client.post("/api/orders/", _body("ONE", "HAT"), format="json")
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "You need the permission orchestration.add_order for this."
    )
    assert not Order.objects.exists()
    user.user_permissions.add(_permission(ADD_ORDER))
    assert client.post("/api/orders/", _body("ONE", "HAT"), format="json").status_code == 201
    user.user_permissions.clear()
    assert client.post("/api/orders/", _body("TWO", "HAT"), format="json").status_code == 403
    assert list(Order.objects.values_list("backend_id", flat=True)) == ["ONE"]


def test_a_session_signed_in_through_django_s_backend_stays_signed_in(
    admin_user: User,
) -> None:
    client = Client()
    # What the sessions made before this backend hold (and what signing in still stores).
    client.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/admin/").status_code == 200


def test_signing_in_checks_a_password_once_and_stores_django_s_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    User.objects.create_user("clerk", password="right-pass-123")
    checked: list[str] = []
    check_password = User.check_password

    def counted(self: User, raw: str) -> bool:
        checked.append(raw)
        return check_password(self, raw)

    monkeypatch.setattr(User, "check_password", counted)
    client = Client()
    assert (
        client.post("/accounts/login/", {"username": "clerk", "password": "wrong"}).status_code
        == 200
    )
    assert checked == ["wrong"]
    response = client.post("/accounts/login/", {"username": "clerk", "password": "right-pass-123"})
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == "django.contrib.auth.backends.ModelBackend"


def test_a_field_is_copied_as_copy_copy_would_copy_it() -> None:
    """``built_fields`` copies a field's attributes directly, not through ``copy.copy``'s
    pickle protocol, where that is what ``copy.copy`` does; a class with a copier of its
    own gets ``copy.copy``."""
    import copy

    from orchestration.api.built_fields import _shallow_copy

    for prototype in [
        *OrderSerializer().fields.values(),
        *OrderInputSerializer().fields.values(),
        drf.ListField(child=drf.IntegerField(), max_length=3),
    ]:
        copied = _shallow_copy(prototype)
        assert type(copied) is type(prototype)
        assert copied is not prototype
        assert copied.__dict__ == copy.copy(prototype).__dict__

    class Counted(drf.IntegerField):
        copies = 0

        def __copy__(self) -> "Counted":
            Counted.copies += 1
            return Counted()

    _shallow_copy(Counted())
    assert Counted.copies == 1
