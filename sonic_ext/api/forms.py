"""Form fields that take several values: repeat the field, give a comma list, or both."""

from __future__ import annotations

from typing import List, Optional


def parse_list(values: Optional[List[str]]) -> List[str]:
    """`purposes=a&purposes=b`, `purposes=a,b` or both: the values in order, blanks dropped."""
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]
