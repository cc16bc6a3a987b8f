"""Words and figures shared by every output: the disclaimer, probability bars and percentages, reference lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oms_cli.kb.compiled import Reference

DISCLAIMER = "oms-dx supports clinical reasoning; it does not replace clinical judgement."


def bar(p: float, width: int = 10) -> str:
    """A probability as a bar of filled and empty cells."""
    filled = max(0, min(width, round(p * width)))
    return "█" * filled + "·" * (width - filled)


def pct(p: float) -> str:
    """A probability as a short percentage (">99%", "<0.1%", "4.2%", "37%")."""
    if p >= 0.995:
        return ">99%"
    if p < 0.0005:
        return "<0.1%"
    if p < 0.0095:
        return f"{p * 100:.1f}%"
    return f"{p * 100:.0f}%"


def reference_ids(ref: Reference) -> list[tuple[str, str]]:
    """A reference's identifiers as (label, address): PMID and DOI resolved to their sites, then its URL."""
    ids = []
    if ref.pmid:
        ids.append((f"PMID:{ref.pmid}", f"https://pubmed.ncbi.nlm.nih.gov/{ref.pmid}/"))
    if ref.doi:
        ids.append((f"doi:{ref.doi}", f"https://doi.org/{ref.doi}"))
    if ref.url:
        ids.append((ref.url, ref.url))
    return ids


def reference_text(ref: Reference) -> str:
    """A reference without its identifiers: authors (year). Title. Journal."""
    return f"{ref.authors} ({ref.year}). {ref.title}. {ref.journal}."


def format_reference(ref: Reference) -> str:
    """One reference as a single line: authors (year). Title. Journal. Identifiers."""
    return f"{reference_text(ref)} {'; '.join(label for label, _ in reference_ids(ref))}".rstrip()
