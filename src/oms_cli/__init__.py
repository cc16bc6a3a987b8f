"""oms-dx: a cited, explainable differential-diagnosis helper for opsoclonus-myoclonus syndrome and its mimics."""

from __future__ import annotations

# Not `from typing import ...`: this module is imported before `main()` can catch a ^C, so it imports nothing.
TYPE_CHECKING = False

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
    "score_dask",
    "score_frame",
]

if TYPE_CHECKING:
    from typing import Any

    from oms_cli.core.batch import score_all, score_case
    from oms_cli.core.cluster import score_dask
    from oms_cli.core.engine import Query, Ranking, normalise_query, rank
    from oms_cli.core.evaluate import Evaluation, evaluate
    from oms_cli.core.frame import score_frame
    from oms_cli.core.inputs import Case, read_jsonl
    from oms_cli.core.reasoning import Analysis, analyse
    from oms_cli.kb.compiled import CompiledKnowledgeBase
    from oms_cli.kb.store import load_knowledge_base

_LAZY = {
    "Query": "oms_cli.core.engine",
    "Ranking": "oms_cli.core.engine",
    "normalise_query": "oms_cli.core.engine",
    "rank": "oms_cli.core.engine",
    "CompiledKnowledgeBase": "oms_cli.kb.compiled",
    "load_knowledge_base": "oms_cli.kb.store",
    "Analysis": "oms_cli.core.reasoning",
    "analyse": "oms_cli.core.reasoning",
    "Case": "oms_cli.core.inputs",
    "read_jsonl": "oms_cli.core.inputs",
    "score_all": "oms_cli.core.batch",
    "score_case": "oms_cli.core.batch",
    "Evaluation": "oms_cli.core.evaluate",
    "evaluate": "oms_cli.core.evaluate",
    "score_frame": "oms_cli.core.frame",
    "score_dask": "oms_cli.core.cluster",
}


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import oms_cli` (and so CLI start-up) free of everything a command does not use.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'oms_cli' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
