"""Who may call the API: HTTP Basic users (the host's `--api-auth` list) and an admin token.

The WebUI protects none of an extension's routes (research/webui.md §0), so we do it ourselves,
as FastAPI dependencies rather than `if`s inside handlers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

_basic = HTTPBasic(auto_error=False, realm="sonic")


@dataclass(frozen=True)
class ApiAuth:
    """API credentials. No users configured means the API is open (loopback-only default)."""

    users: dict[str, str] = field(default_factory=dict, repr=False)
    admin_token: str | None = field(default=None, repr=False)

    def check_user(self, credentials: HTTPBasicCredentials | None) -> str:
        if not self.users:
            return "anonymous"
        if credentials is not None:
            expected = self.users.get(credentials.username)
            if expected is not None and secrets.compare_digest(
                    credentials.password.encode(), expected.encode()):
                return credentials.username
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "valid HTTP Basic credentials required",
                            headers={"WWW-Authenticate": 'Basic realm="sonic"'})

    def user_dependency(self):  # noqa: ANN201 - FastAPI reads the signature of what this returns
        def require_user(credentials: HTTPBasicCredentials | None = Depends(_basic)) -> str:
            return self.check_user(credentials)

        return require_user
