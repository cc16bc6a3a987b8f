"""The HPO descendant table (data/hpo_table.json) and the mapping of any HPO term onto a vocabulary's findings.

The table is built from the ontology by scripts/build_hpo_table.py and records its HPO release; it is read only
when an HPO id that is not itself a vocabulary id has to be mapped, so the ontology and the table stay off the
path of `suggest -f ataxia`. The mapping follows HPO's subclass graph and the engine's nesting model:

- an observed term counts as its nearest vocabulary ancestors (the term itself when it is a vocabulary id);
- an excluded term rules out the vocabulary findings whose HPO id is that term or lies below it: the absence of
  a narrower term (gait ataxia) says nothing about the broader finding (ataxia).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from oms_cli.errors import KnowledgeBaseError, Problem

TABLE_FORMAT = 1
_MEMO = 1 << 16  # mapped ids remembered per mapping; bounded, since a batch can name any number of HP:NNNNNNN


class HpoTable(NamedTuple):
    """The descendant table: the HPO release, each vocabulary HPO id's ancestors, what lies below them."""

    release: str
    built_with: str
    vocabulary: frozenset[str]
    ancestors: dict[str, frozenset[str]]  # vocabulary HPO id -> its proper ancestors
    below: dict[str, tuple[str, ...]]  # proper descendant of a vocabulary HPO id -> every vocabulary id above it
    replaced: dict[str, str]  # obsolete HPO id -> the id that replaces it


def table_path() -> Path:
    """The shipped table: inside the installed package, else the source tree's data/ (next to conditions.json)."""
    packaged = Path(__file__).parents[1] / "data" / "hpo_table.json"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[3] / "data" / "hpo_table.json"


_LOADED: dict[Path, HpoTable] = {}


def load_table(path: Path | None = None) -> HpoTable:
    """The descendant table (read once per process); KnowledgeBaseError when it is missing or malformed."""
    file = path or table_path()
    known = _LOADED.get(file)
    if known is not None:
        return known
    try:
        data = json.loads(file.read_bytes())
        if data.get("format") != TABLE_FORMAT:
            raise ValueError(f"table format {data.get('format')!r}, expected {TABLE_FORMAT}")
        table = HpoTable(
            release=str(data["hpo_release"]),
            built_with=str(data["built_with"]),
            vocabulary=frozenset(data["vocabulary"]),
            ancestors={k: frozenset(v) for k, v in data["anchors"].items()},
            below={k: tuple(v) for k, v in data["below"].items()},
            replaced=dict(data["replaced"]),
        )
    except OSError as exc:
        raise KnowledgeBaseError(str(file), [Problem("", f"cannot read file ({exc.strerror or exc})")]) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KnowledgeBaseError(str(file), [Problem("", f"not an HPO descendant table ({exc})")]) from None
    _LOADED[file] = table
    return table


class HpoMapper:
    """Maps HPO ids onto the findings of one vocabulary ({HPO id: finding id}) through the descendant table.

    Vocabulary HPO ids that the table was not built for map only as themselves (their descendants are unknown).
    """

    def __init__(self, vocabulary: dict[str, str], table: HpoTable) -> None:
        self.table = table
        self._finding_of = vocabulary
        self._present: dict[str, tuple[str, ...]] = {}
        self._absent: dict[str, tuple[str, ...]] = {}
        # An excluded term rules out every vocabulary id it is, or is an ancestor of.
        self._ruled_out_by: dict[str, list[str]] = {}
        for hpo_id in vocabulary:
            for term in (hpo_id, *table.ancestors.get(hpo_id, ())):
                self._ruled_out_by.setdefault(term, []).append(hpo_id)

    def canonical(self, hpo_id: str) -> str:
        """The current id of an HPO id (an obsolete one becomes its replacement)."""
        return self.table.replaced.get(hpo_id, hpo_id)

    def present(self, hpo_id: str) -> tuple[str, ...]:
        """Finding ids an observed HPO term counts as: its own finding, else its nearest vocabulary ancestors
        (several only when the term lies below findings that do not nest in HPO); () when none."""
        known = self._present.get(hpo_id)
        if known is not None:
            return known
        term = self.canonical(hpo_id)
        own = self._finding_of.get(term)
        if own is not None:
            found: tuple[str, ...] = (own,)
        else:
            above = [a for a in self.table.below.get(term, ()) if a in self._finding_of]
            # The nearest: drop every candidate that is an ancestor of another candidate.
            nearest = [a for a in above if not any(a in self.table.ancestors.get(b, ()) for b in above if b != a)]
            found = tuple(dict.fromkeys(self._finding_of[a] for a in sorted(nearest)))
        if len(self._present) < _MEMO:
            self._present[hpo_id] = found
        return found

    def absent(self, hpo_id: str) -> tuple[str, ...]:
        """Finding ids an excluded HPO term rules out: those whose HPO id is the term or lies below it; () when
        none (a term narrower than any finding, or outside the vocabulary's branches)."""
        known = self._absent.get(hpo_id)
        if known is not None:
            return known
        term = self.canonical(hpo_id)
        found = tuple(dict.fromkeys(self._finding_of[h] for h in sorted(self._ruled_out_by.get(term, ()))))
        if len(self._absent) < _MEMO:
            self._absent[hpo_id] = found
        return found
