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


def format_reference(ref: Reference) -> str:
    """One reference as a single line: authors (year). Title. Journal. Identifiers."""
    ids = "; ".join(
        x for x in (f"PMID {ref.pmid}" if ref.pmid else "", f"doi:{ref.doi}" if ref.doi else "", ref.url or "") if x
    )
    return f"{ref.authors} ({ref.year}). {ref.title}. {ref.journal}. {ids}"
