"""Parse the WebUI's `--api-auth` format; kept free of web imports so the CLI checks it early."""

from __future__ import annotations

from ...errors import InputError


def parse_api_auth(spec: str | None, field_name: str = "--api-auth") -> dict[str, str]:
    """`USER:PASS[,USER:PASS]` (the WebUI's format) to a dict; the password may contain ':'."""
    users: dict[str, str] = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise InputError(field_name, "expected USER:PASS pairs separated by commas, "
                                         "each with a non-empty user and password")
        users[user] = password
    if spec is not None and not users:
        raise InputError(field_name, "no USER:PASS pair given")
    return users
