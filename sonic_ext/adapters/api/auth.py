"""Who may call the API: HTTP Basic users (the host's `--api-auth` list) and, for consent
changes, the installation's admin token in the `X-Sonic-Admin-Token` header.

The WebUI protects none of an extension's routes (research/webui.md §0), so we do it ourselves,
as FastAPI dependencies rather than `if`s inside handlers. The admin token is the service's
(`Settings.admin_token`), checked by `SonicService.require_admin` as in the UI.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
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


class LoginThrottle:
    """Failed logins per (user, address): after MAX_FAILURES within WINDOW_S, every attempt
    for that pair, right or wrong, is refused until the window has passed, so a password
    cannot be guessed at network speed (HTTP Basic sends one with every request)."""

    MAX_FAILURES = 5
    WINDOW_S = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, key: tuple[str, str]) -> float:
        """Seconds until `key` may try again (0: now)."""
        with self._lock:
            recent = self._recent(key)
            if len(recent) < self.MAX_FAILURES:
                return 0.0
            return max(0.0, recent[0] + self.WINDOW_S - self._clock())

    def failed(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._recent(key).append(self._clock())

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        recent = self._failures.setdefault(key, deque(maxlen=self.MAX_FAILURES))
        while recent and recent[0] + self.WINDOW_S <= self._clock():
            recent.popleft()
        return recent


@dataclass(frozen=True)
class ApiAuth:
    """API users. No users configured means the API is open (loopback-only default)."""

    users: dict[str, str] = field(default_factory=dict, repr=False)
    throttle: LoginThrottle = field(default_factory=LoginThrottle, repr=False, compare=False)

    def check_user(self, credentials: HTTPBasicCredentials | None, address: str = "") -> str:
        """The user, or 401; 429 with Retry-After while this user and address are throttled."""
        if not self.users:
            return "anonymous"
        key = ((credentials.username if credentials else ""), address)
        wait = self.throttle.wait_s(key)
        if wait > 0:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                "too many failed logins; try again later",
                                headers={"Retry-After": str(math.ceil(wait))})
        user = self.known_user(credentials)
        if user is not None:
            self.throttle.succeeded(key)
            return user
        if credentials is not None:
            self.throttle.failed(key)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "valid HTTP Basic credentials required",
                            headers={"WWW-Authenticate": 'Basic realm="sonic"'})

    def ui_login(self, username: str, password: str) -> bool:
        """gradio's auth callable for the standalone UI: the same users, the same throttle."""
        try:
            self.check_user(HTTPBasicCredentials(username=username, password=password), "ui")
        except HTTPException:
            return False
        return True

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
        def require_user(request: Request,
                         credentials: Optional[HTTPBasicCredentials] = Depends(_basic)) -> str:
            return self.check_user(credentials, _address(request))

        require_user.sonic_auth = self  # type: ignore[attr-defined]  # found by `required_auth`
        return require_user

    async def check_request(self, request: Request) -> None:
        """401 from the headers alone: `api_route` calls it before reading any body."""
        self.check_user(await _basic(request), _address(request))


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


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
