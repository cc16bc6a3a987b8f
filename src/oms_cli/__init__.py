"""oms-dx: a cited, explainable differential-diagnosis helper for opsoclonus-myoclonus syndrome and its mimics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "Case",
    "CompiledKnowledgeBase",
    "Evaluation",
    "Query",
    "Ranking",
    "__version__",
    "analyse",
    "evaluate",
    "load_knowledge_base",
    "normalise_query",
    "rank",
    "read_jsonl",
    "score_all",
    "score_case",
]

if TYPE_CHECKING:
    from oms_cli.batch import score_all, score_case
    from oms_cli.cases import Case, read_jsonl
    from oms_cli.engine import Query, Ranking, normalise_query, rank
    from oms_cli.evaluate import Evaluation, evaluate
    from oms_cli.knowledge import CompiledKnowledgeBase, load_knowledge_base
    from oms_cli.reasoning import Analysis, analyse

_LAZY = {
    "Query": "oms_cli.engine",
    "Ranking": "oms_cli.engine",
    "normalise_query": "oms_cli.engine",
    "rank": "oms_cli.engine",
    "CompiledKnowledgeBase": "oms_cli.knowledge",
    "load_knowledge_base": "oms_cli.knowledge",
    "Analysis": "oms_cli.reasoning",
    "analyse": "oms_cli.reasoning",
    "Case": "oms_cli.cases",
    "read_jsonl": "oms_cli.cases",
    "score_all": "oms_cli.batch",
    "score_case": "oms_cli.batch",
    "Evaluation": "oms_cli.evaluate",
    "evaluate": "oms_cli.evaluate",
}


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import oms_cli` (and so CLI start-up) free of everything a command does not use.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'oms_cli' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
