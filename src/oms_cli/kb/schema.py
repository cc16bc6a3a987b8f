"""Pydantic models of knowledge-base files (schema 2): what every oms-dx knowledge base must follow.

Used only to validate a file (on a cache miss, and by `kb validate`) and to print `kb schema`; the engine runs on
the compiled records of kb/compiled.py.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from oms_cli.kb.terms import ONSETS

Onset = Literal["acute", "subacute", "chronic", "episodic"]
Kind = Literal["history", "eye", "motor", "systemic", "behaviour", "test"]

_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_HPO = re.compile(r"^HP:\d{7}$")
_DATE = r"^\d{4}-\d{2}-\d{2}$"


class _Model(BaseModel):
    # strict: a probability written as "0.5" or a flag written as "no" is an error, never silently coerced.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


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


class ByAge(_Model):
    """A number that differs between children (<18 y) and adults, each with its own provenance."""

    child: Evidence
    adult: Evidence


def _age_form(value: object) -> str:
    return "ByAge" if isinstance(value, dict) and ("child" in value or "adult" in value) else "Evidence"


# A frequency that is the same at every age, or one for children and one for adults. The discriminator picks the
# form from the keys, so that an error names the field that is wrong rather than both forms of the union.
AgeEvidence = Annotated[Annotated[Evidence, Tag("Evidence")] | Annotated[ByAge, Tag("ByAge")], Discriminator(_age_form)]


class Finding(_Model):
    """A finding of the vocabulary: a symptom, sign, history item or work-up result."""

    id: str = Field(pattern=_ID)
    label: str = Field(min_length=1)
    kind: Kind
    definition: str = Field(min_length=1, description="What counts, worded to tell it from look-alikes.")
    synonyms: list[str] = Field(default_factory=list)
    hpo: str | None = None
    within: str | None = Field(
        default=None,
        description="The broader finding this one is a kind of (end-gaze-nystagmus within nystagmus): entering "
        "it marks the broader one present, and its frequencies are read as conditional on the broader one.",
    )
    implies_onset: Onset | None = Field(
        default=None, description="The onset tempo this finding implies (abrupt-onset implies acute)."
    )
    burden: str | None = Field(
        default=None, description="Tests only: what the test costs the patient, in a word or two."
    )
    background: AgeEvidence = Field(
        description="How often the finding is present among patients presenting with acute or subacute ataxia, "
        "dizziness or abnormal eye movements in general; used for any condition that does not list it and for "
        "causes outside the knowledge base."
    )

    @field_validator("hpo")
    @classmethod
    def _hpo_curie(cls, v: str | None) -> str | None:
        if v is not None and not _HPO.match(v):
            raise ValueError(f"must look like HP:0000000, got {v!r}")
        return v

    @model_validator(mode="after")
    def _burden_for_tests(self) -> Finding:
        if self.kind == "test" and not self.burden:
            raise ValueError("a test needs a 'burden' (what it costs the patient)")
        if self.kind != "test" and self.burden:
            raise ValueError("only tests have a 'burden'")
        if self.within is not None and self.implies_onset is not None:
            raise ValueError("a finding is nested within a broader finding or implies an onset, not both")
        return self


class FindingGroup(_Model):
    """Findings that overlap without nesting: at least one member present is the group's event.

    The engine scores the members jointly (independent given the group, conditioned on at least one being
    present), so overlapping members do not multiply as independent evidence.
    """

    id: str = Field(pattern=_ID)
    label: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    members: list[str] = Field(min_length=2)
    dependence: Evidence = Field(
        description="How strongly the members go together where a condition gives no figure for the group: "
        "near 0, as if independent; near 1, the rarer member occurs only with the commoner."
    )


class CompositeSign(_Model):
    """One sign of a composite examination, and the state of it that makes the composite positive."""

    finding: str
    positive_when: Literal["present", "absent"]


class Composite(_Model):
    """An examination read as a whole, whose published accuracy is for the whole (the HINTS examination).

    When every sign has been examined (and the findings in `applies_when` are present), the composite's result —
    positive if any sign is in its positive state — counts with the frequency each condition gives for it, in place
    of the signs one by one, which are not independent of each other.
    """

    id: str = Field(pattern=_ID)
    label: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    positive: str = Field(min_length=1, description="What a positive result is called (e.g. 'central pattern').")
    negative: str = Field(min_length=1, description="What a negative result is called (e.g. 'peripheral pattern').")
    signs: list[CompositeSign] = Field(min_length=2)
    applies_when: list[str] = Field(default_factory=list, description="Findings that must be present.")


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
        default_factory=list, description="Finding ids (tests included) that satisfy the item; empty when none can."
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
    """Share of all presentations in each population (see `populations`) that have this condition."""

    child: Evidence
    adult: Evidence


def _require_every_onset(cls: type, v: dict[str, Any]) -> dict[str, Any]:
    """An onset profile must give every tempo (a missing one would silently score as impossible)."""
    missing = [o for o in ONSETS if o not in v]
    if missing:
        raise ValueError(f"missing onset(s): {', '.join(missing)}")
    return v


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
    age_profile: dict[str, Evidence] = Field(
        description="Share of the condition's presentations in each age band, within the child and the adult group."
    )
    onset_profile: dict[Onset, Evidence]
    findings: dict[str, AgeEvidence] = Field(
        description="Frequency at presentation of each finding (tests: of a positive result when the test is "
        "usually done); findings not listed take their background rate."
    )
    groups: dict[str, AgeEvidence] = Field(
        default_factory=dict,
        description="Frequency of at least one member of a finding group, where a source gives it or the "
        "condition's definition requires it.",
    )
    composites: dict[str, AgeEvidence] = Field(
        default_factory=dict,
        description="Frequency of a positive result of a composite examination, where a source gives it; "
        "otherwise it follows from the frequencies of its signs.",
    )
    look_for: list[Statement] = Field(default_factory=list, description="What to look for and how to elicit it.")
    diagnostic_pearls: list[Statement] = Field(default_factory=list)
    differential_pitfalls: list[Statement] = Field(default_factory=list)
    best_tests: list[Investigation] = Field(default_factory=list)
    management_pearls: list[Statement] = Field(default_factory=list)
    therapy: list[Statement] = Field(
        default_factory=list, description="What the consensus literature describes; reference, not orders."
    )
    criteria: list[Criteria] = Field(default_factory=list)
    last_reviewed: str = Field(pattern=_DATE)

    _all_onsets = field_validator("onset_profile")(_require_every_onset)


class Other(_Model):
    """The open world: presentations whose cause is none of the listed conditions; findings follow background rates."""

    label: str = Field(min_length=1)
    description: str = Field(min_length=1)
    age_profile: dict[str, Evidence]
    onset_profile: dict[Onset, Evidence]
    composites: dict[str, AgeEvidence] = Field(
        default_factory=dict, description="Frequency of a positive composite examination among other causes."
    )

    _all_onsets = field_validator("onset_profile")(_require_every_onset)


class Population(_Model):
    """Who the priors and background rates describe, for one age group."""

    description: str = Field(min_length=1)
    refs: list[str] = Field(min_length=1)


class Populations(_Model):
    """The presenting populations of children and adults."""

    child: Population
    adult: Population


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

    schema_version: Literal["2"]
    kb_version: str = Field(min_length=1)
    last_reviewed: str = Field(pattern=_DATE)
    title: str
    context: str
    populations: Populations
    unknown_age_policy: str
    age_bands: list[AgeBand] = Field(min_length=1)
    onset_definitions: dict[Onset, str]
    other: Other
    findings: list[Finding] = Field(min_length=1)
    finding_groups: list[FindingGroup] = Field(default_factory=list)
    composites: list[Composite] = Field(default_factory=list)
    conditions: list[Condition] = Field(min_length=2, description="A differential needs at least two conditions.")
    references: list[Reference] = Field(default_factory=list)
