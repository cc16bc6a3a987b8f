"""oms-dx: a cited, explainable differential-diagnosis helper for opsoclonus-myoclonus syndrome and its mimics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CompiledKnowledgeBase",
    "Query",
    "Ranking",
    "__version__",
    "load_knowledge_base",
    "rank",
]

if TYPE_CHECKING:
    from oms_cli.engine import Query, Ranking, rank
    from oms_cli.knowledge import CompiledKnowledgeBase, load_knowledge_base

_LAZY = {
    "Query": "oms_cli.engine",
    "Ranking": "oms_cli.engine",
    "rank": "oms_cli.engine",
    "CompiledKnowledgeBase": "oms_cli.knowledge",
    "load_knowledge_base": "oms_cli.knowledge",
}


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import oms_cli` (and so CLI start-up) free of pydantic.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'oms_cli' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
