"""The tenant-aware base every API viewset derives from."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from rest_framework.permissions import IsAuthenticated
from rest_framework.viewsets import GenericViewSet

from ledgers.api.fields import DecimalJSONParser
from ledgers.choices import MembershipRole
from ledgers.selectors import require_role


class TenantViewSet(GenericViewSet):  # type: ignore[type-arg]
    """Querysets come from selectors scoped to the user's organizations (others: 404);
    each action declares the least role it needs (too low: 403)."""

    permission_classes = [IsAuthenticated]
    # JSON only (API.md); the upload view declares multipart itself. Form encodings
    # cannot carry nested objects (match_settings) and only widened what the schema
    # had to promise.
    parser_classes = [DecimalJSONParser]
    # action name -> least role; actions not listed need `viewer`.
    action_roles: ClassVar[dict[str, str]] = {}

    def role_for_action(self) -> str:
        return self.action_roles.get(self.action or "", MembershipRole.VIEWER)

    def organization_id_of(self, obj: Any) -> uuid.UUID:
        raise NotImplementedError

    def check_object_permissions(self, request: Any, obj: Any) -> None:
        super().check_object_permissions(request, obj)
        require_role(
            user=request.user,
            organization_id=self.organization_id_of(obj),
            role=self.role_for_action(),
        )

    def require(self, organization_id: uuid.UUID) -> None:
        require_role(
            user=self.request.user, organization_id=organization_id, role=self.role_for_action()
        )
