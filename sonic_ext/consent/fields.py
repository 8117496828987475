"""Checks of the fields a person types (names, purposes, expiry), with errors naming the field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from ..errors import InputError

MAX_TEXT = 200
MAX_PURPOSE = 64


def check_text(value: str | None, field: str, max_length: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(field, "must not be empty")
    if len(text) > max_length:
        raise InputError(field, f"is {len(text)} characters long; the limit is {max_length}")
    return text


def check_purpose(label: str | None, field: str = "purpose") -> str:
    """A purpose label: letters, digits, '-', '_' or '.', as generation requests accept them."""
    purpose = (label or "").strip()
    if not purpose:
        raise InputError(field, "must not be empty")
    if len(purpose) > MAX_PURPOSE or not all(c.isalnum() or c in "-_." for c in purpose):
        raise InputError(field, f"{label!r} is not a label: use up to {MAX_PURPOSE} letters, "
                                "digits, '-', '_' or '.'")
    return purpose


def check_purposes(labels: Iterable[str] | None, allowed: tuple[str, ...],
                   field: str = "purposes") -> tuple[str, ...]:
    """At least one purpose: a consent that names none covers nothing, so it is refused here."""
    purposes = tuple(sorted({check_purpose(label, field) for label in labels or ()}))
    if not purposes:
        raise InputError(field, "name at least one purpose the person agreed to",
                         hint="e.g. education, marketing; a consent covers only what it names")
    outside = [p for p in purposes if allowed and p not in allowed]
    if outside:
        raise InputError(field, f"not allowed by this installation's policy: "
                                f"{', '.join(outside)}", hint=f"allowed: {', '.join(allowed)}")
    return purposes


def check_expiry(expires: datetime | None, now: datetime,
                 field: str = "expires") -> datetime | None:
    """None (no end) or a future time; a time without a zone is taken as UTC."""
    if expires is None:
        return None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=timezone.utc)
    if expires <= now:
        raise InputError(field, f"{expires.isoformat()} is not in the future")
    return expires.astimezone(timezone.utc)
