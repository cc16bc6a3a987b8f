"""Vocabulary shared by the schema, the compiled form and the inputs: onset tempos, age groups, term normalisation."""

from __future__ import annotations

import re

ONSETS: tuple[str, ...] = ("acute", "subacute", "chronic", "episodic")
AGE_GROUPS: tuple[str, ...] = ("child", "adult")
ADULT_AGE_YEARS = 18.0
HPO_TOKEN = re.compile(r"^HP[:_](\d{7})$", re.IGNORECASE)


def normalise(term: str) -> str:
    """Canonical form of a user term: lower case, spaces and underscores as single hyphens."""
    return re.sub(r"-{2,}", "-", re.sub(r"[\s_]+", "-", term.strip().lower())).strip("-")
