"""Making untrusted text (knowledge-base fields, user input) safe to show in a terminal."""

from __future__ import annotations


def printable(text: str) -> str:
    """Replace control characters (ESC and friends) with visible escapes so they cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in " \n" else f"\\x{ord(ch):02x}" for ch in text)
