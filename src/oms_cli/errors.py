"""The error hierarchy of oms-dx and the documented process exit codes."""

from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    """Process exit codes; documented in the README and part of the scripting contract."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    INPUT = 3
    KNOWLEDGE_BASE = 4
    OUTPUT = 5
    HANGUP = 129
    INTERRUPTED = 130
    BROKEN_PIPE = 141
    TERMINATED = 143


class OmsError(Exception):
    """Base class of every expected error; the CLI turns it into one line and an exit code."""

    code: str = "error"
    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(OmsError):
    """Raised for user input that cannot be used (bad age, onset, conflicting findings)."""

    code = "invalid_input"
    exit_code = ExitCode.INPUT


class PhenopacketError(InputError):
    """Raised for a file that is not a GA4GH Phenopacket v2 document."""

    code = "invalid_phenopacket"


class UnknownTermError(InputError):
    """Raised when a term names nothing the knowledge base knows; carries the closest known terms."""

    what = "term"
    listing = "oms-dx --help"

    ECHO_CHARS = 80  # a pasted paragraph is not echoed back whole

    def __init__(self, token: str, suggestions: list[str], reason: str | None = None) -> None:
        quoted = [repr(s) for s in suggestions]
        either = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)
        hint = f"; did you mean {either}?" if suggestions else ""
        hint = f": {reason}{hint}" if reason else hint
        shown = token if len(token) <= self.ECHO_CHARS else token[: self.ECHO_CHARS] + "…"
        super().__init__(f"unknown {self.what} {shown!r}{hint} (see '{self.listing}')")
        self.token = token
        self.suggestions = suggestions


class UnknownFindingError(UnknownTermError):
    """Raised when a finding matches no id, synonym or HPO id of the vocabulary."""

    code = "unknown_finding"
    what = "finding"
    listing = "oms-dx findings"


class UnknownConditionError(UnknownTermError):
    """Raised when a condition name matches no id, name, alias or code."""

    code = "unknown_condition"
    what = "condition"
    listing = "oms-dx conditions"


class OutputError(OmsError):
    """Raised when results cannot be written: a full disk, a closed stdout, an output file that cannot be made."""

    code = "output"
    exit_code = ExitCode.OUTPUT


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like a ^C so that the same code keeps finished work and stops workers."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process ended by it."""
        return 128 + self.signum


class WorkerError(OmsError):
    """Raised when a batch worker process dies (killed, out of memory) before returning its cases."""

    code = "worker_failed"
    exit_code = ExitCode.INTERNAL


class Problem(NamedTuple):
    """One problem found in a knowledge-base file, located by a JSON path."""

    path: str
    message: str


class KnowledgeBaseError(OmsError):
    """Raised when a knowledge-base file cannot be read, parsed or validated."""

    code = "knowledge_base"
    exit_code = ExitCode.KNOWLEDGE_BASE

    def __init__(self, file: str, problems: list[Problem] | None = None) -> None:
        self.file = file
        self.problems = list(problems or [])
        first = self.problems[0] if self.problems else Problem("", "invalid knowledge base")
        where = f" at {first.path}" if first.path else ""
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        super().__init__(f"{self.file}{where}: {first.message}{more}")
