"""Summarise an `oms-dx batch --phenopackets DIR` run over a phenopacket collection (such as phenopacket-store).

Reports files, scored and failed, then, for the packets whose disease labels name a hereditary cerebellar ataxia
("spinocerebellar ataxia" or "cerebellar ataxia"), how often the hereditary-ataxia condition ranks first and in the
first three, for children (< 18 y), adults and packets without an age. The age group comes from the packet itself,
so that runs of different oms-dx versions are grouped alike: the age at last encounter, else the disease onset
(an ISO 8601 age or an HPO onset class).

    oms-dx batch --phenopackets DIR > run.jsonl
    python scripts/store_report.py DIR run.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

LABELS = re.compile(r"spinocerebellar ataxia|cerebellar ataxia", re.IGNORECASE)
CONDITION = "spinocerebellar-ataxia"
_ISO = re.compile(r"^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?")
# HPO onset classes by the age group they fall in (adult: 16 years or later in HPO, close enough to 18 here).
CHILD_CLASSES = {"HP:0030674", "HP:0011460", "HP:0011461", "HP:0034199", "HP:0034198", "HP:0034197", "HP:0003577",
                 "HP:0003623", "HP:0410280", "HP:0003593", "HP:0011463", "HP:0003621"}  # fmt: skip
ADULT_CLASSES = {"HP:0003581", "HP:0011462", "HP:0025708", "HP:0025709", "HP:0025710", "HP:0003596", "HP:0003584"}


def _years(text: str | None) -> float | None:
    match = _ISO.match(text or "")
    if not match or not any(match.groups()):
        return None
    y, m, w, d = (float(x) if x else 0.0 for x in match.groups())
    return y + m / 12 + w * 7 / 365.25 + d / 365.25


def age_group(packet: dict) -> str:
    """child, adult or unknown, from the packet alone."""
    seen = packet.get("subject", {}).get("timeAtLastEncounter", {})
    age = _years(seen.get("age", {}).get("iso8601duration")) if "age" in seen else None
    if age is None:
        for disease in packet.get("diseases", []):
            onset = disease.get("onset", {})
            if "age" in onset:
                age = _years(onset["age"].get("iso8601duration"))
            elif onset.get("ontologyClass", {}).get("id") in CHILD_CLASSES:
                return "child"
            elif onset.get("ontologyClass", {}).get("id") in ADULT_CLASSES:
                return "adult"
    if age is None:
        return "unknown"
    return "child" if age < 18 else "adult"


def disease_labels(packet: dict) -> list[str]:
    labels = [d.get("term", {}).get("label", "") for d in packet.get("diseases", [])]
    labels += [i.get("diagnosis", {}).get("disease", {}).get("label", "") for i in packet.get("interpretations", [])]
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packets", type=Path, help="the directory given to oms-dx batch --phenopackets")
    parser.add_argument("run", type=Path, help="its JSON Lines output")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.packets.iterdir() if p.suffix.lower() == ".json")  # the order batch reads them
    records = {}
    with args.run.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            records[record["line"]] = record
    failed = sum("error" in r for r in records.values())
    print(f"files {len(files)}, scored {len(records) - failed}, failed {failed}")
    tally: Counter[tuple[str, str]] = Counter()
    for n, file in enumerate(files, start=1):
        packet = json.loads(file.read_bytes())
        if not any(LABELS.search(label) for label in disease_labels(packet)):
            continue
        record = records.get(n, {})
        ranked = [r["id"] for r in record.get("results", [])]
        rank = ranked.index(CONDITION) + 1 if CONDITION in ranked else None
        for group in (age_group(packet), "all"):
            tally[group, "n"] += 1
            tally[group, "top1"] += rank == 1
            tally[group, "top3"] += rank is not None and rank <= 3
    for group in ("child", "adult", "unknown", "all"):
        n = tally[group, "n"]
        if n:
            t1, t3 = tally[group, "top1"], tally[group, "top3"]
            print(f"hereditary ataxia, {group}: n={n} top1={t1 / n:.3f} ({t1}) top3={t3 / n:.3f} ({t3})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
