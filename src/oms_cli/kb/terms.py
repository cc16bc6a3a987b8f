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


SUGGEST_CUTOFF = 75.0  # weighted ratio (0-100) below which a guess is more noise than help
MAX_SUGGESTIONS = 3


def closest(key: str, terms: dict[str, str], limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Up to `limit` canonical ids whose id, synonyms or names are most like `key`, best first.

    Candidates are found with rapidfuzz's weighted ratio, which compares whole strings, their sorted tokens and
    their best partial alignment, so "eye jerks" finds the synonym "jerky eye movements" and "vomitting" finds
    "vomiting"; they are ranked by that ratio averaged with the plain edit-distance ratio, so that a short alias
    contained in the query ("ms" in "omss") does not outrank the near-spelling ("oms"). Imported here, on the
    error path only.
    """
    from rapidfuzz import fuzz, process, utils

    query = key.replace("-", " ")
    choices = {term: term.replace("-", " ") for term in terms if not HPO_TOKEN.match(term)}
    best: dict[str, tuple[float, float]] = {}
    for choice, score, term in process.extract(
        query, choices, scorer=fuzz.WRatio, processor=utils.default_process, limit=None, score_cutoff=SUGGEST_CUTOFF
    ):
        plain = fuzz.ratio(query, choice, processor=utils.default_process)
        ranked = (round((score + plain) / 2.0, 1), fuzz.token_set_ratio(query, choice, processor=utils.default_process))
        cid = terms[term]
        if ranked > best.get(cid, (-1.0, -1.0)):
            best[cid] = ranked
    return sorted(best, key=lambda cid: (-best[cid][0], -best[cid][1], cid))[:limit]
