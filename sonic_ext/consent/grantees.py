"""Who may use a consent: its grantees.

A consent names the requesters it lets generate: a user on any surface (`alice`), a user on one
surface (`api:alice`, `ui:alice`, `cli:root`), or `any`, which must be chosen explicitly.
Requesters are the actors every surface puts on a request (`api:<user>`, `ui:<user>`,
`cli:<login>`), so one rule serves the UI, the API and the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import InputError

ANY = "any"
SURFACES = ("api", "ui", "cli")
_USER = r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"
_GRANTEE = re.compile(rf"(?:(?:{'|'.join(SURFACES)}):)?{_USER}")


def actor(surface: str, user: str | None) -> str:
    """The requester and audit actor of one surface: `<surface>:<user>`, or the surface alone
    where it knows no user (the UI without logins). The CLI's user is the login at the
    keyboard, the API's the HTTP Basic user, the UI's the signed-in page user."""
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}")
    return f"{surface}:{user}" if user else surface


def check_grantees(values: Iterable[str] | None, field: str = "grantees") -> tuple[str, ...]:
    """At least one grantee, each `any`, `USER` or `SURFACE:USER`; sorted, without repeats."""
    grantees = sorted({(v or "").strip() for v in values or ()} - {""})
    if not grantees:
        raise InputError(field, "name who may use this consent",
                         hint="--grantee USER (repeatable; api:USER, ui:USER or cli:USER for one "
                              "surface), or --grantee any to let every user of this "
                              "installation use it")
    for grantee in grantees:
        if grantee != ANY and not _GRANTEE.fullmatch(grantee):
            raise InputError(field, f"{grantee!r} is not a grantee: use 'any', a user name "
                                    f"(letters, digits, . _ @ -) or {'/'.join(SURFACES)}:USER")
    return tuple(grantees)


def is_granted(grantees: Iterable[str], actor: str) -> bool:
    """Whether the requester `actor` (e.g. `api:alice`) may use a consent with these grantees."""
    names = {actor}
    surface, _, user = actor.partition(":")
    if user and surface in SURFACES:
        names.add(user)
    return any(g == ANY or g in names for g in grantees)
