"""Pydantic models of knowledge-base files: the schema every oms-dx knowledge base must follow (validation only)."""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oms_cli.kb.terms import ONSETS

Onset = Literal["acute", "subacute", "chronic", "episodic"]

_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_HPO = re.compile(r"^HP:\d{7}$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(_Model):
    """A number with its provenance: cited references, or an expert estimate with its rationale."""

    value: float = Field(
        description="A probability or relative frequency, strictly between 0 and 1.",
        json_schema_extra={"exclusiveMinimum": 0, "exclusiveMaximum": 1},
    )
    refs: list[str] = Field(default_factory=list, description="Reference ids that support the value.")
    estimate: str | None = Field(
        default=None, description="Set when the value is an expert estimate: the reasoning behind it."
    )
    note: str | None = Field(default=None, description="How the value was read or derived from the sources.")

    @field_validator("value")
    @classmethod
    def _in_open_unit_interval(cls, v: float) -> float:
        if not math.isfinite(v) or not 0.0 < v < 1.0:
            raise ValueError(f"must be a finite number strictly between 0 and 1, got {v}")
        return v

    @model_validator(mode="after")
    def _has_provenance(self) -> Evidence:
        if not self.refs and not (self.estimate and self.estimate.strip()):
            raise ValueError("needs a citation ('refs') or an expert-estimate rationale ('estimate')")
        return self

    @property
    def is_estimate(self) -> bool:
        """True when the value is an expert estimate rather than a figure read from a source."""
        return self.estimate is not None


class Finding(_Model):
    """A clinical finding of the vocabulary."""

    id: str = Field(pattern=_ID)
    label: str = Field(min_length=1)
    kind: Literal["eye", "motor", "behaviour", "systemic", "history"]
    definition: str = Field(min_length=1)
    synonyms: list[str] = Field(default_factory=list)
    hpo: str | None = None

    @field_validator("hpo")
    @classmethod
    def _hpo_curie(cls, v: str | None) -> str | None:
        if v is not None and not _HPO.match(v):
            raise ValueError(f"must look like HP:0000000, got {v!r}")
        return v


class Code(_Model):
    """A code of a coding system (ICD-10-CM, SNOMED CT, ORPHA, ICD-11) for a condition."""

    system: Literal["ICD-10-CM", "SNOMED CT", "ORPHA", "ICD-11"]
    code: str = Field(min_length=1)
    label: str = Field(min_length=1)
    note: str | None = None
    refs: list[str] = Field(min_length=1)


class CantMiss(_Model):
    """Whether a condition must not be missed, why, and the test that excludes it."""

    flag: bool
    reason: str = Field(min_length=1)
    excluding_test: str | None = None


class Statement(_Model):
    """One statement of a reference card, written afresh and cited."""

    text: str = Field(min_length=1)
    refs: list[str] = Field(min_length=1, description="Reference ids that support the statement.")
    versus: list[str] = Field(
        default_factory=list, description="Condition ids this statement contrasts the condition with."
    )


class Investigation(_Model):
    """A test worth ordering: what, why, and how good it is where a source says."""

    test: str = Field(min_length=1)
    why: str = Field(min_length=1)
    performance: str | None = Field(default=None, description="Sensitivity, yield or limits, as reported.")
    refs: list[str] = Field(min_length=1)


class CriterionItem(_Model):
    """One item of a criterion set; met when any of its findings is present, unmet when all are absent."""

    id: str = Field(pattern=_ID)
    text: str = Field(min_length=1)
    findings: list[str] = Field(
        default_factory=list, description="Finding ids that satisfy the item; empty when only a test can."
    )
    note: str | None = None


class Criteria(_Model):
    """A published diagnostic criterion set: at least `required` of its items must be met."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    source: str = Field(min_length=1, description="Who published the criteria and when.")
    refs: list[str] = Field(min_length=1)
    required: int = Field(ge=1)
    items: list[CriterionItem] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _satisfiable(self) -> Criteria:
        if self.required > len(self.items):
            raise ValueError(f"requires {self.required} items but lists only {len(self.items)}")
        return self


class Prior(_Model):
    """Relative frequency among presenting patients, for children and adults."""

    child: Evidence
    adult: Evidence


class Condition(_Model):
    """A condition of the differential with its profile and finding frequencies at presentation."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    codes: list[Code] = Field(default_factory=list)
    synopsis: str = Field(min_length=1)
    synopsis_refs: list[str] = Field(default_factory=list, description="Reference ids behind the synopsis.")
    cant_miss: CantMiss
    prior: Prior
    age_profile: dict[str, Evidence]
    onset_profile: dict[Onset, Evidence]
    findings: dict[str, Evidence]
    look_for: list[Statement] = Field(default_factory=list, description="What to look for and how to elicit it.")
    diagnostic_pearls: list[Statement] = Field(default_factory=list)
    differential_pitfalls: list[Statement] = Field(default_factory=list)
    best_tests: list[Investigation] = Field(default_factory=list)
    management_pearls: list[Statement] = Field(default_factory=list)
    therapy: list[Statement] = Field(
        default_factory=list, description="What the consensus literature describes; reference, not orders."
    )
    criteria: list[Criteria] = Field(default_factory=list)
    last_reviewed: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")

    @field_validator("onset_profile")
    @classmethod
    def _all_onsets(cls, v: dict[str, Evidence]) -> dict[str, Evidence]:
        missing = [o for o in ONSETS if o not in v]
        if missing:
            raise ValueError(f"missing onset(s): {', '.join(missing)}")
        return v


class AgeBand(_Model):
    """An age band in years, [min_years, max_years), belonging to the child or adult group."""

    id: str = Field(min_length=1)
    min_years: float = Field(ge=0)
    max_years: float = Field(gt=0, le=120)
    group: Literal["child", "adult"]


class Reference(_Model):
    """A full bibliographic reference; needs at least one of PMID, DOI or URL."""

    id: str = Field(min_length=1)
    authors: str = Field(min_length=1)
    year: int = Field(ge=1900, le=2100)
    title: str = Field(min_length=1)
    journal: str = Field(min_length=1)
    pmid: str | None = Field(default=None, pattern=r"^\d+$")
    doi: str | None = Field(default=None, pattern=r"^10\.\S+/\S+$")
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")

    @model_validator(mode="after")
    def _locatable(self) -> Reference:
        if not (self.pmid or self.doi or self.url):
            raise ValueError("needs a pmid, doi or url")
        return self


class KnowledgeBase(_Model):
    """The whole knowledge-base file."""

    schema_version: Literal["1"]
    kb_version: str = Field(min_length=1)
    last_reviewed: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    title: str
    context: str
    leak_probability: Evidence
    unknown_age_policy: str
    age_bands: list[AgeBand] = Field(min_length=1)
    onset_definitions: dict[Onset, str]
    findings: list[Finding] = Field(min_length=1)
    conditions: list[Condition] = Field(min_length=2, description="A differential needs at least two conditions.")
    references: list[Reference] = Field(default_factory=list)
