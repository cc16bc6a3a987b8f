"""Making untrusted text (knowledge-base fields, user input) safe to show in a terminal."""

from __future__ import annotations


def printable(text: str) -> str:
    """Replace control characters (ESC and friends) with visible escapes so they cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in " \n" else f"\\x{ord(ch):02x}" for ch in text)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """A CSV/TSV cell that a spreadsheet cannot run and a terminal cannot obey: text starting with a formula
    character (=, +, -, @, tab, carriage return) gets a leading apostrophe, as OWASP's guidance on CSV injection
    advises, and control characters (newlines included) are written as visible escapes. Numbers pass as they are."""
    if type(value) is not str:
        return value
    if value.startswith(_FORMULA_START):
        value = "'" + value
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in value)
