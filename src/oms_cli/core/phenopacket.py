"""GA4GH Phenopacket v2 input: features, exclusions, ages and clinical course mapped onto oms-dx cases.

Parsing goes through the GA4GH `phenopackets` library (protobuf), so any document it accepts is read as
the schema defines it. Features outside the oms-dx vocabulary become warnings on the case, never silent drops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oms_cli.core.inputs import Case, CaseError, clip, parse_iso_age
from oms_cli.errors import InputError, UnknownFindingError

if TYPE_CHECKING:
    from oms_cli.kb.compiled import CompiledKnowledgeBase

# HPO "Clinical course" terms that say how fast a disorder came on (HP:0031797 subtree).
ONSET_TERMS = {"HP:0011009": "acute", "HP:0011011": "subacute", "HP:0011010": "chronic", "HP:0025303": "episodic"}


def _parse(raw: bytes | str) -> Any:
    from google.protobuf.json_format import Parse, ParseError
    from phenopackets import Phenopacket

    try:
        return Parse(raw, Phenopacket())
    except ParseError as exc:
        raise InputError(clip(f"not a GA4GH Phenopacket v2 document: {exc}")) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})") from None


def _age_of(element: Any, what: str, warnings: list[str]) -> float | None:
    kind = element.WhichOneof("element")
    if kind is None:
        return None
    if kind == "age":
        try:
            return parse_iso_age(element.age.iso8601duration)
        except InputError as err:
            warnings.append(f"{what}: {err.message}; age ignored")
            return None
    warnings.append(f"{what} is given as {kind}, not an ISO 8601 age; age ignored")
    return None


def case_from_phenopacket(
    kb: CompiledKnowledgeBase, raw: bytes | str, line: int = 1, source: str | None = None
) -> Case:
    """A case from one phenopacket: observed features are present, `excluded: true` ones absent, and the
    diagnosis (for `evaluate`) from its interpretations or diseases.

    Age is the subject's age at last encounter, else the latest feature onset age. A clinical-course term
    (acute, subacute, chronic, episodic) given as a feature or a modifier sets the onset tempo.
    """
    packet = _parse(raw)
    present: list[str] = []
    absent: list[str] = []
    warnings: list[str] = []
    onsets: set[str] = set()
    onset_ages: list[float] = []
    for feature in packet.phenotypic_features:
        term, label = feature.type.id, feature.type.label
        onsets.update(ONSET_TERMS[m.id] for m in feature.modifiers if m.id in ONSET_TERMS)
        if term in ONSET_TERMS and not feature.excluded:
            onsets.add(ONSET_TERMS[term])
            continue
        if feature.HasField("onset"):
            age = _age_of(feature.onset, f"onset of {term}", warnings)
            if age is not None:
                onset_ages.append(age)
        fid = None
        for candidate in (term, label):
            if not candidate:
                continue
            try:
                fid = kb.resolve_finding(candidate)
                break
            except UnknownFindingError:
                continue
        if fid is None:
            shown = f"{term} ({label})" if label else term or "(no id)"
            warnings.append(f"feature {shown} is not in the oms-dx vocabulary; not used")
            continue
        (absent if feature.excluded else present).append(fid)
    both = set(present) & set(absent)
    if both:
        raise InputError(f"feature(s) both observed and excluded: {', '.join(sorted(both))}")
    age_years = None
    if packet.subject.HasField("time_at_last_encounter"):
        age_years = _age_of(packet.subject.time_at_last_encounter, "subject age", warnings)
    if age_years is None and onset_ages:
        age_years = max(onset_ages)
    if len(onsets) > 1:
        warnings.append(f"conflicting clinical-course terms ({', '.join(sorted(onsets))}); onset left unknown")
    onset = next(iter(onsets)) if len(onsets) == 1 else None
    return Case(
        diagnosis=_diagnosis(kb, packet),
        id=packet.id or None,
        line=line,
        present=tuple(dict.fromkeys(present)),
        absent=tuple(dict.fromkeys(absent)),
        age_years=age_years,
        onset=onset,
        warnings=tuple(warnings),
        source=source,
    )


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
        return CaseError(None, n, f"cannot read {file} ({exc.strerror or exc})", "unreadable", source)
    return _from_bytes(kb, raw, n, source)


def _from_bytes(kb: CompiledKnowledgeBase, raw: bytes, n: int, source: str) -> Case | CaseError:
    try:
        return case_from_phenopacket(kb, raw, n, source)
    except InputError as err:
        return CaseError(
            None, n, clip(err.message), "invalid_phenopacket" if err.code == "invalid_input" else err.code, source
        )
