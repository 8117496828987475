"""Text safe to show: which characters a stored name may not hold, and how listings escape them.

Kept free of imports beyond the standard library so the CLI can escape what it prints without
loading the registry.
"""

from __future__ import annotations

import re
import unicodedata

# Characters no name, reason or actor may hold (consent/fields.py: check_text): controls (tab
# and line breaks too), format characters (bidi overrides, zero-width characters), line and
# paragraph separators, private use, unassigned code points and lone surrogates.
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})

_CONTROL_NAMES = {0x00: "NULL", 0x08: "BACKSPACE", 0x09: "TAB", 0x0A: "LINE FEED",
                  0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE"}
_CATEGORY_NAMES = {"Cc": "a control character", "Cn": "unassigned", "Co": "private use",
                   "Cs": "a surrogate"}


def is_unprintable(char: str) -> bool:
    return unicodedata.category(char) in UNPRINTABLE_CATEGORIES


def describe_char(char: str) -> str:
    """How an error names a character: U+001B (ESCAPE), U+0435 (CYRILLIC SMALL LETTER IE)."""
    name = (unicodedata.name(char, "") or _CONTROL_NAMES.get(ord(char))
            or _CATEGORY_NAMES.get(unicodedata.category(char), unicodedata.category(char)))
    return f"U+{ord(char):04X} ({name})"


def printable(text: object) -> str:
    """`text` safe to print on a terminal: every character in UNPRINTABLE_CATEGORIES becomes a
    \\uXXXX escape (\\UXXXXXXXX beyond the BMP), so a stored row cannot move the cursor, colour
    the screen, start a new line or reorder what follows. Everything else is left as it is."""
    text = "" if text is None else str(text)
    return "".join((f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
                   if is_unprintable(c) else c for c in text)


def printable_lines(text: object) -> str:
    """`printable` for output made of several lines: the line breaks between them are kept."""
    return "\n".join(printable(line) for line in ("" if text is None else str(text)).split("\n"))


# An absolute POSIX or Windows path of two or more parts, not inside a URL (`://host/...`) and
# not an API route named after an HTTP method ("GET /consents/granted") or under /sonic/v1.
_SERVER_PATH = re.compile(
    r"(?<![\w.:/\\])(?<!GET )(?<!POST )(?<!DELETE )(?!/sonic/v1\b)"
    r"(?:[A-Za-z]:)?(?:[/\\][^\s/\\'\"(),;:]+){2,}[/\\]?")


def without_server_paths(message: str) -> str:
    """A message for a remote client: each server path replaced by its last part ("file not
    found: /srv/sonic/uploads/ab12/portrait.png" -> "... portrait.png"), since paths tell an
    attacker how the server is laid out and a user of the API or UI cannot open them anyway."""
    return _SERVER_PATH.sub(lambda match: re.split(r"[/\\]", match.group().rstrip("/\\"))[-1],
                            message)


def readable_size(size: int | float | None) -> str:
    """Bytes for people: "6.6 GB", "45.0 MB", "812 bytes"; "" when unknown."""
    if size is None:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} bytes"
