"""Checks of the fields a person types (names, purposes, expiry), with errors naming the field.

Names, reasons and actors are printable text (check_text); purposes are ASCII labels
(check_purpose), the one rule every surface and GenerateRequest apply. Lists (purposes,
grantees, claimed consents) and expiry dates are parsed here too (`split_labels`,
`parse_expiry`, `parse_amended_expiry`), so the CLI, the API and the UI read them alike.
`printable` (from sonic_ext/text.py, re-exported here) is what listings use to show stored text
safely.
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
_SEPARATORS = re.compile(r"[,;]")
NO_EXPIRY = ("none", "no expiry", "never")  # what removes an end date in an amendment


class KEEP:
    """`amend_consent(expires=KEEP)`: the expiry stays as it is (None means no expiry)."""


def split_labels(values: str | Iterable[str | None] | None) -> list[str]:
    """Labels as typed on any surface: one text or several (repeated flags or form fields),
    each a list separated by commas or semicolons; stripped, order kept, blanks dropped. Not by
    spaces: `every one` must be refused as one bad grantee, not grant users `every` and `one`."""
    texts = [values] if isinstance(values, str) else list(values or ())
    return [label.strip() for text in texts for label in _SEPARATORS.split(text or "")
            if label.strip()]


def parse_expiry(text: str | None, field: str = "expires") -> datetime | None:
    """Blank for no expiry, else an ISO 8601 date or date-time (no zone means UTC)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(field, f"not an ISO 8601 date or date-time: {text!r}",
                         hint="e.g. 2027-06-30 or 2027-06-30T18:00:00+02:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_amended_expiry(text: str | None, field: str = "expires"
                         ) -> datetime | None | type[KEEP]:
    """An amendment's expiry: blank keeps the current one, "none" (or "never", "no expiry")
    removes it, else a date as in `parse_expiry`."""
    text = (text or "").strip()
    if not text:
        return KEEP
    if text.lower() in NO_EXPIRY:
        return None
    return parse_expiry(text, field)


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


def outside_policy(purposes: Iterable[str], allowed: tuple[str, ...]) -> list[str]:
    """The purposes the policy's `allowed_purposes` leave out (none when it lists none): the
    one rule for consents, generations and the gate."""
    return [p for p in purposes if allowed and p not in allowed]


def check_allowed_purpose(label: str | None, allowed: tuple[str, ...],
                          field: str = "purpose") -> str:
    """A generation's purpose: a label (check_purpose) the policy allows."""
    purpose = check_purpose(label, field)
    if outside_policy([purpose], allowed):
        raise InputError(field, f"{purpose!r} is not a purpose this installation allows",
                         hint=f"the policy allows: {', '.join(allowed)}")
    return purpose


def check_purposes(labels: Iterable[str] | None, allowed: tuple[str, ...],
                   field: str = "purposes") -> tuple[str, ...]:
    """At least one purpose: a consent that names none covers nothing, so it is refused here."""
    purposes = tuple(sorted({check_purpose(label, field) for label in labels or ()}))
    if not purposes:
        raise InputError(field, "name at least one purpose the person agreed to",
                         hint="e.g. education, marketing; a consent covers only what it names")
    outside = outside_policy(purposes, allowed)
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
