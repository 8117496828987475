"""Checks of the fields a person types (names, purposes, expiry), with errors naming the field.

Names, reasons and actors are printable text (check_text); purposes are ASCII labels
(check_purpose), the one rule every surface and GenerateRequest apply. `printable` (from
sonic_ext/text.py, re-exported here) is what listings use to show stored text safely.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timezone

from ..errors import InputError
from ..text import describe_char, is_unprintable, printable

MAX_TEXT = 200
MAX_PURPOSE = 64
# A purpose label, after NFKC and lower-casing: ASCII only, so no two labels look alike.
PURPOSE_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
PURPOSE_CHARSET = ("lower-case ASCII letters a-z, digits 0-9, '.', '_' and '-', starting with a "
                   f"letter or digit, at most {MAX_PURPOSE} characters")
_PURPOSE = re.compile(PURPOSE_PATTERN)
_PRINTABLE_HINT = ("use printable text on one line: no control or formatting characters, tabs "
                   "or line breaks")
_SPACES = re.compile(r"\s+")  # once controls are refused, only space separators (Zs) are left


def check_text(value: str | None, field: str, max_length: int = MAX_TEXT) -> str:
    """Printable text typed by a person (a name, a reason, an actor): NFC-normalised, stripped,
    runs of spaces made one; no control or format characters, tabs or line breaks."""
    text = unicodedata.normalize("NFC", value or "").strip()
    for position, char in enumerate(text, 1):
        if is_unprintable(char):
            raise InputError(field, f"character {position} is {describe_char(char)}, which is "
                                    "not allowed", hint=_PRINTABLE_HINT)
    text = _SPACES.sub(" ", text)
    if not text:
        raise InputError(field, "must not be empty")
    if len(text) > max_length:
        raise InputError(field, f"is {len(text)} characters long; the limit is {max_length}")
    return text


def check_purpose(label: str | None, field: str = "purpose") -> str:
    """A purpose label as every surface accepts it: NFKC-normalised, stripped and lower-cased,
    then PURPOSE_PATTERN (ASCII) only, so a look-alike letter is refused, not a new label."""
    purpose = unicodedata.normalize("NFKC", label or "").strip().lower()
    if not purpose:
        raise InputError(field, "must not be empty")
    if _PURPOSE.fullmatch(purpose):
        return purpose
    if len(purpose) > MAX_PURPOSE:
        problem = f"is {len(purpose)} characters long; the limit is {MAX_PURPOSE}"
    elif bad := next((c for c in purpose if not re.fullmatch(r"[a-z0-9._-]", c)), None):
        problem = f"'{printable(label)}' is not a label: {describe_char(bad)} is not allowed"
    else:
        problem = f"'{purpose}' is not a label: it must start with a letter or digit"
    raise InputError(field, problem, hint=f"a purpose uses {PURPOSE_CHARSET}")


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
