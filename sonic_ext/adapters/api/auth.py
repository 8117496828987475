"""Who may call the API: HTTP Basic users (the host's `--api-auth` list) and, for consent
changes, the installation's admin token in the `X-Sonic-Admin-Token` header.

The WebUI protects none of an extension's routes (research/webui.md §0), so we do it ourselves,
as FastAPI dependencies rather than `if`s inside handlers. The admin token is the service's
(`Settings.admin_token`), checked by `SonicService.require_admin` as in the UI.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from fastapi import Depends, HTTPException, status
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials
from starlette.requests import Request

if TYPE_CHECKING:
    from ...service import SonicService

ADMIN_HEADER = "X-Sonic-Admin-Token"

_basic = HTTPBasic(auto_error=False, realm="sonic")
_admin_header = APIKeyHeader(name=ADMIN_HEADER, auto_error=False,
                             description="the installation's admin token, for consent routes")


@dataclass(frozen=True)
class ApiAuth:
    """API users. No users configured means the API is open (loopback-only default)."""

    users: dict[str, str] = field(default_factory=dict, repr=False)

    def check_user(self, credentials: HTTPBasicCredentials | None) -> str:
        user = self.known_user(credentials)
        if user is not None:
            return user
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "valid HTTP Basic credentials required",
                            headers={"WWW-Authenticate": 'Basic realm="sonic"'})

    def known_user(self, credentials: HTTPBasicCredentials | None) -> str | None:
        """The user these credentials name, "anonymous" when the API is open, else None."""
        if not self.users:
            return "anonymous"
        if credentials is not None:
            expected = self.users.get(credentials.username)
            if expected is not None and secrets.compare_digest(
                    credentials.password.encode(), expected.encode()):
                return credentials.username
        return None

    def optional_user_dependency(self):  # noqa: ANN201 - FastAPI reads its signature
        def maybe_user(credentials: Optional[HTTPBasicCredentials] = Depends(_basic)
                       ) -> Optional[str]:
            return self.known_user(credentials)

        return maybe_user

    def user_dependency(self):  # noqa: ANN201 - FastAPI reads the signature of what this returns
        def require_user(credentials: Optional[HTTPBasicCredentials] = Depends(_basic)) -> str:
            return self.check_user(credentials)

        require_user.sonic_auth = self  # type: ignore[attr-defined]  # found by `required_auth`
        return require_user

    async def check_request(self, request: Request) -> None:
        """401 from the headers alone: `api_route` calls it before reading any body."""
        self.check_user(await _basic(request))


def required_auth(dependant: Dependant) -> ApiAuth | None:
    """The ApiAuth a route's dependencies require a user of, if any (see `user_dependency`)."""
    for dependency in dependant.dependencies:
        auth = getattr(dependency.call, "sonic_auth", None) or required_auth(dependency)
        if auth is not None:
            return auth
    return None


def admin_dependency(service: SonicService):  # noqa: ANN201 - a FastAPI dependency
    """403 unless the request carries the admin token (and one is configured at all)."""

    def require_admin(token: Optional[str] = Depends(_admin_header)) -> None:
        service.require_admin(token)  # AdminRequired: 403, by the route class

    return require_admin
