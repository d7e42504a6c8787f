"""The contact-plan API: planned contacts and interactions (``shared/spec/sync-api.md``).

Reading: ``/api/v1/planned-contacts/`` and ``/api/v1/interactions/`` with the contract's
cursor and filters; rows come through the actor (tenant by the manager, role by
``roles.visible_to``), so another tenant's or another book's row is a 404.

Writing: ``POST /api/v1/interactions/`` lets a call-centre or mobile system (API token
with the ``write`` scope) or a logged-in staff member log a contact. The view only
turns the body into objects of the caller's tenant and scope; the rules (no future
contact, the planned contact answered, the plan moved on) are
``contact_plans.services.interaction_log``'s, the same as the page's.
"""

from __future__ import annotations

import logging

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from contact_plans import services
from contact_plans.filters import InteractionFilter, PlannedContactFilter
from contact_plans.models import Interaction, PlannedContact
from contact_plans.serializers import (
    InteractionCreateSerializer,
    InteractionSerializer,
    PlannedContactSerializer,
)
from customers.models import Client
from vipcrm.idempotency import IDEMPOTENCY_KEY_PARAMETER
from vipcrm.models import StaffProfile
from vipcrm.roles import Actor, visible_to
from vipcrm.viewsets import (
    Conflict,
    TenantModelViewSet,
    idempotent_write,
    json_body,
    read_request_body,
)

logger = logging.getLogger(__name__)

# One interaction is a few kilobytes; this only keeps a request from costing memory.
MAX_BODY_BYTES = 256 * 1024

UNKNOWN_CLIENT = _("No client with this customer number in your bank.")
UNKNOWN_CLIENT_IN_SCOPE = _("No client with this customer number among the clients you serve.")
RM_CODE_REQUIRED = _("Name who made the contact: their staff code.")
UNKNOWN_STAFF = _("No staff member with this code in your bank.")
INACTIVE_STAFF = _("This staff member is no longer active.")
OWN_CONTACTS_ONLY = _("You log your own contacts: leave rm_code out or give your own staff code.")
UNKNOWN_PLANNED_CONTACT = _("No planned contact with this id among the clients you serve.")
EXTERNAL_ID_TAKEN = _(
    "This external_id already names an interaction with another client; use a new one."
)

# The service speaks of objects; the API's body names them by their references.
API_FIELD = {
    "client": "client_external_id",
    "staff": "rm_code",
    "planned_contact": "planned_contact_id",
    NON_FIELD_ERRORS: api_settings.NON_FIELD_ERRORS_KEY,
}


# --- Selectors (the API's rows, through the actor) ------------------------------------


def planned_contact_api_list(*, actor: Actor | None) -> QuerySet[PlannedContact]:
    """Planned contacts of the clients the actor may see (the clients API's scope),
    with the codes that join them to the caller's data read in the same query."""
    contacts = PlannedContact.objects.annotate(
        client_external_id=F("client__external_id"),
        rm_code=F("assigned_to__code"),
        holding_external_id=F("holding__external_id"),
    )
    return visible_to(contacts, actor)


def interaction_api_list(*, actor: Actor | None) -> QuerySet[Interaction]:
    """Interactions with the clients the actor may see, whoever logged them."""
    interactions = Interaction.objects.annotate(
        client_external_id=F("client__external_id"), rm_code=F("staff__code")
    )
    return visible_to(interactions, actor)


# --- Reading ----------------------------------------------------------------------------


class PlannedContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    """Planned contacts (联系计划): why to contact a client, by when, and whether it was
    done. Read-only: the nightly planning makes them, interactions complete them."""

    selector = staticmethod(planned_contact_api_list)
    serializer_class = PlannedContactSerializer
    filterset_class = PlannedContactFilter


INTERACTION_CREATE_DESCRIPTION = """\
Log a contact made with a client (a call, a visit, a WeChat talk…). It completes the
planned contact it answers (and the client's open regular contact) and moves the
client's next due date, exactly as logging it in the CRM does.

- **Who**: an API token with the `write` scope names who made the contact in `rm_code`;
  a logged-in staff member logs their own contacts (`rm_code` left out or their own).
- **References**: `client_external_id`, `rm_code` and `planned_contact_id` must exist in
  the caller's bank (and, for staff, among the clients they serve); an unknown one is a
  400 with a message on that field, like the sync API's unknown references.
- **Refused with 400 and per-field messages**: a contact in the future, a missing channel
  or summary, unknown need kinds, a planned contact of another client or already closed,
  a next step dated in the past, a time without its UTC offset. Nothing is written.
- **`external_id`**: your own id of the contact, unique in the bank. Sending an
  interaction whose `external_id` is already logged *for the same client* logs nothing and
  returns the existing interaction with **200** (201 when created); the same
  `external_id` for another client is a **409**.
- **`Idempotency-Key`**: as for the sync endpoints, a repeat with the same key and body
  within 24 hours returns the first response without applying anything again; the same
  key with another body is a 409.
"""


class InteractionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    """Interactions (联系记录): contacts made with clients, by whom, and what came of them."""

    selector = staticmethod(interaction_api_list)
    serializer_class = InteractionSerializer
    filterset_class = InteractionFilter
    # The body is read raw (hashed for Idempotency-Key) and parsed as JSON, the one
    # documented type.
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Log an interaction",
        description=INTERACTION_CREATE_DESCRIPTION,
        request=InteractionCreateSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: InteractionSerializer,
            200: OpenApiResponse(
                response=InteractionSerializer,
                description="The `external_id` was already logged for this client: nothing new.",
            ),
            400: OpenApiResponse(
                description="Not JSON, or per-field messages (the field names are the body's)."
            ),
            401: OpenApiResponse(description="No or bad token."),
            403: OpenApiResponse(description="A token without the `write` scope."),
            409: OpenApiResponse(
                description=(
                    "`external_id` already used for another client, or `Idempotency-Key` "
                    "reused for another body."
                )
            ),
            413: OpenApiResponse(description="The body is too large."),
        },
    )
    def create(self, request: Request) -> Response:
        body = read_request_body(request, max_bytes=MAX_BODY_BYTES)
        idempotency = idempotent_write(request, body, path=_caller_path(request, self.actor))
        if idempotency.replay is not None:
            return idempotency.replay
        fields = InteractionCreateSerializer(data=json_body(body))
        fields.is_valid(raise_exception=True)
        interaction, created = _interaction_create(
            request=request, actor=self.actor, data=fields.validated_data
        )
        data = InteractionSerializer(
            interaction_api_list(actor=self.actor).get(pk=interaction.pk)
        ).data
        status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        idempotency.store(status_code=status_code, data=data)
        location = reverse("api:interaction-detail", kwargs={"pk": interaction.pk})
        return Response(data, status=status_code, headers={"Location": location})


# --- Creating an interaction ----------------------------------------------------------


def _caller_path(request: Request, actor: Actor) -> str:
    # Idempotency keys are per bank; a staff member's key must not replay a colleague's
    # response (which may show a client outside their book), so theirs are kept apart.
    staff = actor.staff
    return request.path if staff is None else f"{request.path}#staff:{staff.pk}"


def _interaction_create(*, request: Request, actor: Actor, data: dict) -> tuple[Interaction, bool]:
    """(the interaction, whether it is new): resolve the body's references in the
    caller's bank and scope, then log it through the service, all or nothing."""
    errors: dict[str, list[str]] = {}
    client = _client_resolve(actor=actor, external_id=data["client_external_id"], errors=errors)
    staff = _staff_resolve(actor=actor, code=data.get("rm_code"), errors=errors)
    planned_contact = _planned_contact_resolve(
        actor=actor, pk=data.get("planned_contact_id"), errors=errors
    )
    if errors:
        raise exceptions.ValidationError(errors)
    external_id = data.get("external_id", "")
    existing = _logged_before(client=client, external_id=external_id)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            interaction = services.interaction_log(
                actor=actor,
                client=client,
                channel=data["channel"],
                occurred_at=data["occurred_at"],
                summary=data["summary"],
                duration_minutes=data.get("duration_minutes"),
                needs_found=data.get("needs_found", ()),
                next_step=data.get("next_step", ""),
                next_step_on=data.get("next_step_on"),
                planned_contact=planned_contact,
                external_id=external_id,
                staff=staff,
                request=request,
            )
    except DjangoValidationError as exc:
        errors = _api_errors(exc)
        if "external_id" in errors:
            # Another request logged the same external_id between our check and the
            # service's (its savepoint undid ours): answer as if it had come first.
            existing = _logged_before(client=client, external_id=external_id)
            if existing is not None:
                return existing, False
        raise exceptions.ValidationError(errors) from None
    except PlannedContact.DoesNotExist:
        raise exceptions.ValidationError(
            {"planned_contact_id": [str(UNKNOWN_PLANNED_CONTACT)]}
        ) from None
    except (Client.DoesNotExist, Http404):
        # The service re-checks the client's scope; what it cannot find, neither may we.
        raise exceptions.ValidationError({"client_external_id": [_unknown_client(actor)]}) from None
    except DjangoPermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc) or None) from None
    except IntegrityError:
        # A concurrent change won a race on the same rows; nothing of ours was written.
        logger.exception("interaction create collided")
        raise Conflict(
            _(
                "The interaction collided with a concurrent change and was not logged; "
                "send it again."
            )
        ) from None
    return interaction, True


def _unknown_client(actor: Actor) -> str:
    return str(UNKNOWN_CLIENT if actor.sees_whole_tenant else UNKNOWN_CLIENT_IN_SCOPE)


def _client_resolve(*, actor: Actor, external_id: str, errors: dict) -> Client | None:
    # Unknown, another bank's and outside the staff member's book read the same: the
    # answer never tells whether such a client exists elsewhere.
    client = visible_to(Client.objects.all(), actor).filter(external_id=external_id).first()
    if client is None:
        errors["client_external_id"] = [_unknown_client(actor)]
    return client


def _staff_resolve(*, actor: Actor, code: str | None, errors: dict) -> StaffProfile | None:
    """Who made the contact: named by a token; a staff member is themselves (None lets
    the service take the actor's own profile)."""
    if actor.staff is not None:
        if code is not None and code != actor.staff.code:
            errors["rm_code"] = [str(OWN_CONTACTS_ONLY)]
        return None
    if not code:
        errors["rm_code"] = [str(RM_CODE_REQUIRED)]
        return None
    staff = StaffProfile.objects.filter(code=code).first()
    if staff is None:
        errors["rm_code"] = [str(UNKNOWN_STAFF)]
    elif not staff.is_active:
        errors["rm_code"] = [str(INACTIVE_STAFF)]
        return None
    return staff


def _planned_contact_resolve(
    *, actor: Actor, pk: int | None, errors: dict
) -> PlannedContact | None:
    if pk is None:
        return None
    planned_contact = visible_to(PlannedContact.objects.all(), actor).filter(pk=pk).first()
    if planned_contact is None:
        errors["planned_contact_id"] = [str(UNKNOWN_PLANNED_CONTACT)]
    return planned_contact


def _logged_before(*, client: Client, external_id: str) -> Interaction | None:
    """The interaction already logged under ``external_id`` for ``client``; a 409 when
    that id names an interaction with another client."""
    if not external_id:
        return None
    existing = Interaction.objects.filter(external_id=external_id).only("pk", "client_id").first()
    if existing is None:
        return None
    if existing.client_id != client.pk:
        raise Conflict({"external_id": [str(EXTERNAL_ID_TAKEN)]})
    return existing


def _api_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    """The service's messages under the body's field names."""
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in exc.messages]}
    return {
        API_FIELD.get(field, field): [str(m) for m in messages]
        for field, messages in exc.message_dict.items()
    }
