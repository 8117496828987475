"""The consents a page user may generate under: the Generate tab's pickers and its listing.

A generation claims the consents it relies on, one per person shown (consent/gate.py). The page
offers only those in force and granted to the signed-in user (`service.list_consents(granted_to=
...)`), as choices labelled for people, e.g. "Barack Obama — education, until 2027-01-01
(con_ab12cd34)", and the purposes they cover. Gradio 3.41 has no (label, value) Dropdown choices, so on every version the
label is the value and `claimed_ids` reads the id back from its end; a bare id (a direct call
through gradio's API) is taken as it is. The gate checks every claim again, grants included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import gradio as gr

from ...consent.grantees import actor
from ...text import printable

if TYPE_CHECKING:  # the registry (SQLAlchemy) loads on first use, not with the page
    from ...consent import ConsentRecord

GRANTED_HEADERS = ["id", "person", "purposes", "valid until"]
_ID_AT_END = re.compile(r"\(([^()\s]+)\)\s*$")


def requester(request: gr.Request | None) -> str:
    """Who asks or acts (grants, audit log): `ui:<username>`, or `ui` without logins."""
    return actor("ui", getattr(request, "username", None))


def _until(moment: datetime | None) -> str:
    return f"until {moment.date().isoformat()}" if moment else "no expiry"


def consent_choice(record: ConsentRecord) -> str:
    """The picker's label (and value) for a consent; registry text escaped as in every listing."""
    return (f"{printable(record.subject_name)} — {', '.join(map(printable, record.purposes))}, "
            f"{_until(record.valid_until)} ({printable(record.id)})")


def claimed_ids(values: Iterable[Any] | str | None) -> tuple[str, ...]:
    """The consent ids of the picked choices (labels or bare ids), in order, each once; what is
    left is checked by the service (an empty claim is its `consent_id` error)."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    ids: list[str] = []
    for value in values:
        text = str(value or "").strip()
        found = _ID_AT_END.search(text)
        consent_id = found.group(1) if found else text
        if consent_id and consent_id not in ids:
            ids.append(consent_id)
    return tuple(ids)


def granted_rows(records: Iterable[ConsentRecord]) -> list[list[str]]:
    """The read-only listing: id, person, purposes, end of validity; no evidence, no grantees."""
    return [[printable(r.id), printable(r.subject_name), ", ".join(map(printable, r.purposes)),
             r.valid_until.isoformat(timespec="seconds") if r.valid_until else "no expiry"]
            for r in records]


def purpose_update(records: list[ConsentRecord], current: str | None,
                   allowed: Iterable[str] = ()) -> dict[str, Any]:
    """The purposes those consents cover (and the policy allows, when it lists any), to choose
    from instead of typing: a purpose no consent covers would only be refused. The current one
    stays while it is among them, else the first is chosen."""
    allowed = set(allowed)
    choices = list(dict.fromkeys(purpose for record in records for purpose in record.purposes
                                 if not allowed or purpose in allowed))
    value = current if current in choices or not choices else choices[0]
    return gr.update(choices=choices, value=value)


def picker_update(records: list[ConsentRecord], picked: Iterable[Any] | str | None
                  ) -> dict[str, Any]:
    """New choices for the picker, keeping the picks that are still granted (by id, so a pick
    whose label changed stays picked)."""
    choices = {record.id: consent_choice(record) for record in records}
    kept = [choices[cid] for cid in claimed_ids(picked) if cid in choices]
    return gr.update(choices=list(choices.values()), value=kept)
