"""GA4GH Phenopacket v2 input: features mapped through the HPO graph, ages and onset tempo derived, as oms-dx cases.

Parsing goes through the GA4GH `phenopackets` library (protobuf), so any document it accepts is read as the schema
defines it. A feature with an HPO id is mapped by that id alone (never by its label): an observed term counts as
its nearest vocabulary ancestor, an excluded one rules out the findings at or below it (`kb.hpo`). What could not be
used, and what was derived (age, tempo), is said in the case's warnings, one line each.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from oms_cli.core.inputs import Case, CaseError, clip, parse_iso_age
from oms_cli.errors import InputError, PhenopacketError, UnknownFindingError
from oms_cli.kb.terms import HPO_TOKEN

if TYPE_CHECKING:
    from oms_cli.kb.compiled import CompiledKnowledgeBase

# HPO "Clinical course" terms that say how fast a disorder came on (HP:0031797 subtree).
ONSET_TERMS = {"HP:0011009": "acute", "HP:0011011": "subacute", "HP:0011010": "chronic", "HP:0025303": "episodic"}

_DAY = 1.0 / 365.25
_WEEK = 7.0 * _DAY
# The onset tempos of the knowledge base (README): acute under a week, subacute 1-6 weeks, chronic beyond.
ACUTE_MAX, SUBACUTE_MAX = _WEEK, 6.0 * _WEEK

# HPO onset classes (HP:0003674 subtree) as age intervals in years, [start, end), following the HPO definitions
# (as encoded in phenol's HpoOnset): before birth counts as 0. The third value is the age taken when a class is all
# that is known of the age: the middle of the interval; open intervals are closed at 60 (adult) and 80 (late).
ONSET_CLASSES: dict[str, tuple[float, float, float]] = {
    "HP:0030674": (0.0, 0.0, 0.0),  # Antenatal onset
    "HP:0011460": (0.0, 0.0, 0.0),  # Embryonal onset
    "HP:0011461": (0.0, 0.0, 0.0),  # Fetal onset
    "HP:0034199": (0.0, 0.0, 0.0),  # Late first trimester onset
    "HP:0034198": (0.0, 0.0, 0.0),  # Second trimester onset
    "HP:0034197": (0.0, 0.0, 0.0),  # Third trimester onset
    "HP:0003577": (0.0, 0.0, 0.0),  # Congenital onset (at birth)
    "HP:0003623": (0.0, 28 * _DAY, 14 * _DAY),  # Neonatal onset (first 28 days)
    "HP:0410280": (28 * _DAY, 16.0, 8.0),  # Pediatric onset (28 days to 16 years)
    "HP:0003593": (28 * _DAY, 1.0, 0.5),  # Infantile onset (28 days to 1 year)
    "HP:0011463": (1.0, 5.0, 3.0),  # Childhood onset (1 to 5 years)
    "HP:0003621": (5.0, 16.0, 10.5),  # Juvenile onset (5 to 15 years)
    "HP:0003581": (16.0, math.inf, 38.0),  # Adult onset (16 years or later)
    "HP:0011462": (16.0, 40.0, 28.0),  # Young adult onset
    "HP:0025708": (16.0, 19.0, 17.5),  # Early young adult onset
    "HP:0025709": (19.0, 25.0, 22.0),  # Intermediate young adult onset
    "HP:0025710": (25.0, 40.0, 32.5),  # Late young adult onset
    "HP:0003596": (40.0, 60.0, 50.0),  # Middle age onset
    "HP:0003584": (60.0, math.inf, 70.0),  # Late onset (after 60 years)
}

# Observed features that map to nothing are named in the warning up to this many (a syndrome can list dozens).
LISTED_UNUSED = 8

# The smallest unit an ISO 8601 age gives, which is how precisely it dates an event ("P5Y": some time aged 5).
_ISO_UNITS = (("D", _DAY), ("W", _WEEK), ("M", 1.0 / 12.0), ("Y", 1.0))


class Span(NamedTuple):
    """An age known to lie in [start, end) years, the age it stands for, and how the packet wrote it."""

    start: float
    end: float
    age: float
    shown: str
    exact: bool = False  # an ISO 8601 age, as opposed to a range or an onset class


def _parse(raw: bytes | str) -> Any:
    from google.protobuf.json_format import Parse, ParseError
    from phenopackets import Phenopacket

    try:
        return Parse(raw, Phenopacket())
    except ParseError as exc:
        raise PhenopacketError(clip(f"not a GA4GH Phenopacket v2 document: {exc}")) from None
    except UnicodeDecodeError as exc:
        raise PhenopacketError(f"not UTF-8 text (byte {exc.start})") from None


def _iso_span(text: str) -> Span:
    years = parse_iso_age(text)
    body = text.strip().upper().split("T", 1)[0]
    precision = next((size for unit, size in _ISO_UNITS if unit in body[1:]), _DAY)
    return Span(years, years + precision, years, text, exact=True)


def _span(element: Any, what: str, warnings: list[str]) -> Span | None:
    """The age interval of a TimeElement, or None (with a warning when it says something oms-dx cannot read)."""
    kind = element.WhichOneof("element")
    if kind is None:
        return None
    try:
        if kind == "age":
            return _iso_span(element.age.iso8601duration)
        if kind == "age_range":
            low, high = (
                _iso_span(element.age_range.start.iso8601duration),
                _iso_span(element.age_range.end.iso8601duration),
            )
            return Span(low.start, high.end, (low.start + high.start) / 2.0, f"{low.shown}-{high.shown}")
    except InputError as err:
        warnings.append(f"{what}: {err.message}; ignored")
        return None
    if kind == "ontology_class":
        term = element.ontology_class
        known = ONSET_CLASSES.get(term.id)
        if known is None:
            warnings.append(
                f"{what} {term.id} ({term.label or 'no label'}) is not an HPO onset class with an age; ignored"
            )
            return None
        return Span(*known, shown=term.label or term.id)
    if kind == "gestational_age":
        return Span(0.0, 0.0, 0.0, "before birth")
    warnings.append(f"{what} is given as {kind}, without an age; ignored")
    return None


def _elapsed_tempo(onset: Span, seen: Span) -> str | None:
    """The onset tempo when the time from onset to the encounter falls in one tempo whatever the exact dates."""
    least = max(seen.start - onset.end, 0.0)
    most = seen.end - onset.start
    if least > SUBACUTE_MAX:
        return "chronic"
    if most < ACUTE_MAX:
        return "acute"
    if least >= ACUTE_MAX and most <= SUBACUTE_MAX:
        return "subacute"
    return None


def _years(value: float) -> str:
    if value >= 2:
        return f"{value:.0f} years"
    if value >= 2 / 12:
        return f"{value * 12:.0f} months"
    return f"{value / _WEEK:.0f} weeks" if value >= 2 * _WEEK else f"{value / _DAY:.0f} days"


class _Features(NamedTuple):
    present: list[str]
    absent: list[str]
    onsets: set[str]  # clinical-course tempos named by features or modifiers
    onset_spans: list[tuple[Span, str]]  # (when, the feature) for observed features with an onset


def _features(kb: CompiledKnowledgeBase, packet: Any, warnings: list[str]) -> _Features:
    mapper = None
    present: list[str] = []
    absent: list[str] = []
    onsets: set[str] = set()
    spans: list[tuple[Span, str]] = []
    unused: list[str] = []
    excluded_unused = 0
    for feature in packet.phenotypic_features:
        term, label = feature.type.id.strip(), feature.type.label
        onsets.update(ONSET_TERMS[m.id] for m in feature.modifiers if m.id in ONSET_TERMS)
        hpo = HPO_TOKEN.match(term)
        key = f"HP:{hpo.group(1)}" if hpo else term
        if key in ONSET_TERMS:
            if not feature.excluded:
                onsets.add(ONSET_TERMS[key])
            continue
        if feature.HasField("onset") and not feature.excluded:
            span = _span(feature.onset, f"onset of {key}", warnings)
            if span is not None:
                spans.append((span, label or key))
        found: tuple[str, ...] = ()
        if hpo:  # mapped by its id alone: a label is a name for people, the id is what the curator chose
            own = kb.finding_terms.get(key)
            if own is not None:
                found = (own,)
            else:
                mapper = mapper or kb.hpo_mapper()
                found = mapper.absent(key) if feature.excluded else mapper.present(key)
        elif not term and label:  # no id at all: the label is all there is
            try:
                found = (kb.resolve_finding(label),)
            except UnknownFindingError:
                found = ()
        if not found:
            if feature.excluded:
                excluded_unused += 1
            else:
                unused.append(f"{term} ({label})" if label and term else term or label or "(no id)")
            continue
        (absent if feature.excluded else present).extend(found)
    if unused:
        more = f" and {len(unused) - LISTED_UNUSED} more" if len(unused) > LISTED_UNUSED else ""
        warnings.append(
            f"{len(unused)} observed feature(s) not in the oms-dx vocabulary nor below a term of it, not used: "
            + ", ".join(unused[:LISTED_UNUSED])
            + more
        )
    if excluded_unused:
        warnings.append(
            f"{excluded_unused} excluded feature(s) neither a vocabulary term nor broader than one, not used "
            "(the absence of a narrower term says nothing about the broader finding)"
        )
    return _Features(present, absent, onsets, spans)


def _consistent(kb: CompiledKnowledgeBase, present: list[str], absent: list[str], warnings: list[str]) -> list[str]:
    """The absent findings, without those that an observed feature contradicts through the nesting of findings
    (an observed finding, or one below it, excluded through itself or an ancestor): the packet breaks HPO's rule
    that a term implies its ancestors, so what it says about that finding is left unknown, with a warning."""
    implied = set()
    for fid in present:
        up: str | None = fid
        while up is not None:
            implied.add(up)
            up = kb.finding(up).within
    clash = sorted({f for f in absent if f in implied})
    if not clash:
        return absent
    warnings.append(
        f"features both observed and excluded through the HPO hierarchy ({', '.join(clash)}): the exclusion is not used"
    )
    return [f for f in absent if f not in clash]


def case_from_phenopacket(
    kb: CompiledKnowledgeBase, raw: bytes | str, line: int = 1, source: str | None = None
) -> Case:
    """A case from one phenopacket: observed features are present, `excluded: true` ones absent, and the
    diagnosis (for `evaluate`) from its interpretations or diseases.

    Age is the subject's age at last encounter, else the latest onset age given (a feature's or the disease's),
    else the age an onset class stands for. The onset tempo is a clinical-course term (acute, subacute, chronic,
    episodic) given as a feature or a modifier, else the time from the disease onset (or the earliest feature
    onset) to the last encounter. Each derived value is noted in the warnings.
    """
    return _case(kb, _parse(raw), line, source)


def _case(kb: CompiledKnowledgeBase, packet: Any, line: int, source: str | None) -> Case:
    warnings: list[str] = []
    feats = _features(kb, packet, warnings)
    absent = _consistent(kb, feats.present, feats.absent, warnings)
    disease_spans: list[tuple[Span, str]] = []
    for disease in packet.diseases:
        if not disease.excluded and disease.HasField("onset"):
            span = _span(disease.onset, "disease onset", warnings)
            if span is not None:
                disease_spans.append((span, disease.term.label or disease.term.id or "the disease"))
    seen = None
    if packet.subject.HasField("time_at_last_encounter"):
        seen = _span(packet.subject.time_at_last_encounter, "age at last encounter", warnings)
        if seen is not None and packet.subject.time_at_last_encounter.WhichOneof("element") == "gestational_age":
            warnings.append("age at last encounter is a gestational age; age left unknown")
            seen = None
    age_years = _age(seen, feats.onset_spans + disease_spans, warnings)
    # A finding that implies a tempo (abrupt onset) sets it in the engine; a derived one would only contradict it.
    implied = any(kb.finding(f).implies_onset for f in feats.present)
    onset = _tempo(
        feats.onsets, seen, disease_spans if not implied else [], feats.onset_spans if not implied else [], warnings
    )
    return Case(
        diagnosis=_diagnosis(kb, packet),
        id=packet.id or None,
        line=line,
        present=tuple(dict.fromkeys(feats.present)),
        absent=tuple(dict.fromkeys(absent)),
        age_years=age_years,
        onset=onset,
        warnings=tuple(warnings),
        source=source,
    )


def _age(seen: Span | None, onsets: list[tuple[Span, str]], warnings: list[str]) -> float | None:
    if seen is not None:
        if not seen.exact:
            warnings.append(
                f"age {seen.age:.3g} y taken from the age at last encounter given as {seen.shown} (the middle of its range)"
            )
        return seen.age
    if not onsets:
        return None
    # The patient was seen at or after every recorded onset: the latest is the best floor for the age.
    exact = [(s, what) for s, what in onsets if s.exact]  # an ISO age before the middle of a class
    span, what = max(exact or onsets, key=lambda item: (item[0].age, item[0].start))
    middle = "" if span.exact else ", the middle of its range"
    warnings.append(
        f"age {span.age:.3g} y taken from the onset of {what} ({span.shown}{middle}); "
        "the packet gives no age at last encounter"
    )
    return span.age


def _tempo(
    named: set[str],
    seen: Span | None,
    diseases: list[tuple[Span, str]],
    features: list[tuple[Span, str]],
    warnings: list[str],
) -> str | None:
    if len(named) > 1:
        warnings.append(f"conflicting clinical-course terms ({', '.join(sorted(named))}); onset left unknown")
        return None
    if named:
        return next(iter(named))
    starts = diseases or features  # the disease's onset when the packet gives one, else its first feature's
    if not starts:
        return None
    first, what = min(starts, key=lambda item: (item[0].start, item[0].end))
    # Without an age at last encounter, the encounter came no earlier than the latest onset recorded.
    floor = max(s.start for s, _ in diseases + features)
    encounter = seen if seen is not None else Span(floor, math.inf, floor, "")
    encounter = encounter._replace(start=max(encounter.start, floor))
    tempo = _elapsed_tempo(first, encounter)
    if tempo is None:
        return None
    later = f"the last encounter ({seen.shown})" if seen is not None else "a later onset"
    gap = max(encounter.start - first.end, 0.0)
    warnings.append(
        f"onset {tempo}, derived from the onset of {what} ({first.shown}) and {later}"
        + (f": at least {_years(gap)} apart" if tempo == "chronic" else "")
    )
    return tempo


def _diagnosis(kb: CompiledKnowledgeBase, packet: Any) -> str | None:
    """The packet's diagnosis as a condition id when its code or label names one, else its label or code as
    written (evaluate then reports it as unknown), or None when the packet records no diagnosis.

    An interpretation's diagnosis is preferred to the `diseases` list, which may hold background disorders.
    """
    from oms_cli.errors import UnknownConditionError

    terms = [i.diagnosis.disease for i in packet.interpretations if i.diagnosis.HasField("disease")]
    terms += [d.term for d in packet.diseases if not d.excluded and d.HasField("term")]
    for term in terms:
        for candidate in (term.id, term.label):
            if candidate:
                try:
                    return kb.resolve_condition(candidate)
                except UnknownConditionError:
                    continue
    return next((t.label or t.id for t in terms if t.label or t.id), None)


def read_phenopackets(kb: CompiledKnowledgeBase, path: Path) -> Iterator[Case | CaseError]:
    """Cases from a directory of phenopacket .json files (sorted by name), one .json file, or a .jsonl file
    with one phenopacket per line; an unreadable document yields a CaseError and the run goes on."""
    if path.is_dir():
        for n, file in enumerate(sorted(p for p in path.iterdir() if p.suffix.lower() == ".json"), start=1):
            yield _one(kb, file, n, file.name)
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open("rb") as fh:
            for n, raw in enumerate(fh, start=1):
                if raw.strip():
                    yield _from_bytes(kb, raw, n, path.name)
    else:
        yield _one(kb, path, 1, path.name)


def _one(kb: CompiledKnowledgeBase, file: Path, n: int, source: str) -> Case | CaseError:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return CaseError(None, n, f"cannot read {file} ({exc.strerror or exc})", "invalid_input", source)
    return _from_bytes(kb, raw, n, source)


def _from_bytes(kb: CompiledKnowledgeBase, raw: bytes, n: int, source: str) -> Case | CaseError:
    packet = None
    try:
        packet = _parse(raw)
        return _case(kb, packet, n, source)
    except InputError as err:
        pid = packet.id if packet is not None else _raw_id(raw)
        return CaseError(pid or None, n, clip(err.message), err.code, source)


def _raw_id(raw: bytes) -> str | None:
    """The `id` of a document the phenopacket schema refused, when it is at least a JSON object with one."""
    import orjson

    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None
