"""The state of an interactive interview: which question to ask next, the answers so far, when to stop."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from oms_cli.core.engine import Query
from oms_cli.core.reasoning import DEFAULT_CANT_MISS_THRESHOLD, Analysis, analyse

MIN_BITS = 0.01  # a question worth less than this is not asked

if TYPE_CHECKING:
    from oms_cli.kb.compiled import CompiledKnowledgeBase

Reply = Literal["yes", "no", "unknown", "skip"]
REPLIES: dict[str, Reply] = {
    "y": "yes",
    "yes": "yes",
    "n": "no",
    "no": "no",
    "u": "unknown",
    "unknown": "unknown",
    "?": "unknown",
    "s": "skip",
    "skip": "skip",
}


def parse_reply(text: str) -> Reply | None:
    """A typed answer as a reply, or None when it is not one (the caller asks again)."""
    return REPLIES.get(text.strip().lower())


@dataclass
class Interview:
    """Answers collected so far; asks the most informative finding not yet asked."""

    kb: CompiledKnowledgeBase
    age_years: float | None = None
    onset: str | None = None
    stop_at: float = 0.9
    max_questions: int = 20
    cant_miss_threshold: float = DEFAULT_CANT_MISS_THRESHOLD
    present: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    asked: int = 0  # questions answered; findings given up front are not questions

    def query(self) -> Query:
        return Query(tuple(self.present), tuple(self.absent), self.age_years, self.onset)

    def analysis(self) -> Analysis:
        """The current differential; findings answered unknown or skipped are not proposed again."""
        return analyse(
            self.kb,
            self.query(),
            cant_miss_threshold=self.cant_miss_threshold,
            exclude=frozenset(self.unknown + self.skipped),
        )

    def stop_reason(self, analysis: Analysis) -> str | None:
        """Why the interview should end now, or None to go on asking."""
        leader = analysis.ranking.results[0]
        if leader.probability >= self.stop_at:
            return f"{leader.id} reached {leader.probability:.0%} (stop at {self.stop_at:.0%})"
        if self.asked >= self.max_questions:
            return f"asked {self.asked} questions (the maximum)"
        if self._best(analysis) is None:
            return "no question or test left that would change the differential"
        return None

    @staticmethod
    def _best(analysis: Analysis) -> str | None:
        # History and examination first; a test only once no question is worth asking (at least MIN_BITS).
        for candidates in (analysis.next_findings, analysis.next_tests):
            if candidates and candidates[0].info_gain_bits >= MIN_BITS:
                return candidates[0].finding
        return None

    def next_question(self, analysis: Analysis) -> str | None:
        """The finding (or, when no question is worth asking, the test) to ask about next, or None to stop."""
        if self.stop_reason(analysis) is not None:
            return None
        return self._best(analysis)

    def answer(self, finding: str, reply: Reply) -> None:
        """Record the reply to a question; yes and no enter the model, unknown and skip only stop the question
        coming back."""
        target = {"yes": self.present, "no": self.absent, "unknown": self.unknown, "skip": self.skipped}[reply]
        target.append(finding)
        self.asked += 1

    def known(self, finding: str) -> None:
        """Record a finding the user gave before any question (it does not count as a question)."""
        if finding not in self.present:
            self.present.append(finding)

    def command_line(self) -> str:
        """The `oms-dx suggest` command that reproduces the current differential."""
        args = ["oms-dx", "suggest"]
        if self.present:
            args += ["-f", ",".join(self.present)]
        if self.absent:
            args += ["-x", ",".join(self.absent)]
        if self.age_years is not None:
            args += ["--age", format(self.age_years, ".15g")]
        if self.onset is not None:
            args += ["--onset", self.onset]
        return shlex.join(args)
