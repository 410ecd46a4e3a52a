"""`Authorization: Token <key>` against ledgers.ApiToken (hashed keys, expiry, revocation)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from ledgers.tokens import TokenRejected, api_token_check


class ApiTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        try:
            token = api_token_check(key=key)
        except TokenRejected as exc:
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from None
        return (token.user, token)
