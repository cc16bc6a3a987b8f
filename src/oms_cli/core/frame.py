"""The data-frame API: score a pandas DataFrame of cases in one vectorised pass (`score_frame`), and the columns
of its result, which `batch --format parquet` writes too.

Input, one row per case, in either layout:

- long: `present` and `absent` (lists of finding names, or comma-separated strings), `age_years` (years, or a
  string such as "18m"), `onset`; missing columns and missing values mean unknown;
- wide: one column per finding (named by its id or any synonym): true present, false absent, missing unknown;
  `age_years` and `onset` as above.

Output: the input's index with `condition_1`, `probability_1`, ... `condition_k`, `probability_k`,
`other_probability` and `error` (the reason a row could not be scored, else missing), and with `all_conditions`
one `p_<condition id>` column per condition. The numbers are `suggest`'s, bit for bit (core/vector.py).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from oms_cli.core import engine
from oms_cli.core.inputs import check_age, clip, parse_age, parse_onset, split_terms
from oms_cli.errors import InputError, OmsError
from oms_cli.kb.compiled import CompiledKnowledgeBase

if TYPE_CHECKING:
    import pandas as pd

# Columns of the long layout, and other columns a case table usually has that are never findings.
LONG_COLUMNS = ("present", "absent")
NOT_FINDINGS = frozenset({"id", "present", "absent", "age_years", "onset", "diagnosis", "line", "source"})
DEFAULT_TOP = 3
FRAME_BLOCK = 32768  # rows scored at a time: the matrices of a block stay in cache
_STR_ONLY = {str}
_LISTS = {list, tuple}


def result_columns(kb: CompiledKnowledgeBase, top: int | None, all_conditions: bool = False) -> list[tuple[str, str]]:
    """The result columns and their kinds ("string" or "float"), in order, for a top-k (None: every condition)."""
    k = shown(kb, top)
    cols: list[tuple[str, str]] = []
    for i in range(1, k + 1):
        cols += [(f"condition_{i}", "string"), (f"probability_{i}", "float")]
    cols.append(("other_probability", "float"))
    if all_conditions:
        cols += [(f"p_{c.id}", "float") for c in kb.conditions]
    cols.append(("error", "string"))
    return cols


def shown(kb: CompiledKnowledgeBase, top: int | None) -> int:
    """How many ranked conditions a result row carries."""
    n = len(kb.conditions)
    return n if top is None else max(0, min(top, n))


# ----------------------------------------------------------------------------- reading cells


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType"


def terms_of(value: Any, column: str) -> Sequence[str]:
    """Finding names from a cell: a list (or array) of strings, a comma-separated string, or missing."""
    kind = type(value)
    if kind is list or kind is tuple:
        items = value
    elif isinstance(value, str):
        return split_terms([value]) if "," in value else ([value.strip()] if value.strip() else [])
    elif value is None:
        return ()
    elif hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:
        items = value.tolist()  # a numpy array: how pandas holds a Parquet list column
    elif _missing(value):
        return ()
    else:
        items = None
    if items is not None and set(map(type, items)) <= _STR_ONLY:  # C-level check, once per cell
        return items  # type: ignore[no-any-return]
    raise InputError(f"'{column}' must be a list of finding names or a comma-separated string")


def age_of(value: Any) -> float | None:
    """Age in years from a cell: a number, a string such as "18m", or missing."""
    if _missing(value):
        return None
    if isinstance(value, bool):
        raise InputError("'age_years' must be a number, a string such as '18m', or missing")
    if isinstance(value, str):
        return parse_age(value) if value.strip() else None
    try:
        years = float(value)
    except (TypeError, ValueError):
        raise InputError("'age_years' must be a number, a string such as '18m', or missing") from None
    return check_age(years, value)


def onset_of(value: Any) -> str | None:
    """An onset tempo from a cell, or None when missing or blank."""
    if _missing(value):
        return None
    if not isinstance(value, str):
        raise InputError("'onset' must be a string or missing")
    return parse_onset(value) if value.strip() else None


# ----------------------------------------------------------------------------- the knowledge base by default

_default: CompiledKnowledgeBase | None = None
_default_lock = threading.Lock()


def default_kb() -> CompiledKnowledgeBase:
    """The shipped knowledge base, loaded once per process through the cache (OMS_DX_CACHE_DIR)."""
    global _default
    with _default_lock:
        if _default is None:
            from oms_cli.kb.store import default_cache_dir, load_knowledge_base

            _default = load_knowledge_base(cache_dir=default_cache_dir())
        return _default


# ----------------------------------------------------------------------------- scoring a frame


def score_frame(
    df: pd.DataFrame,
    kb: CompiledKnowledgeBase | None = None,
    *,
    top: int | None = DEFAULT_TOP,
    all_conditions: bool = False,
    findings: Sequence[str] | None = None,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Score every row of a DataFrame of cases; returns a DataFrame on the same index (see the module docstring).

    `top`: ranked conditions per row (None: all); `all_conditions`: add every condition's probability as
    `p_<id>`; `findings`: the finding columns of the wide layout (default: every column named after a finding);
    `keep`: input columns copied to the front of the result (an id, for Spark's mapInPandas, which drops the
    index). A row that cannot be scored (an unknown finding, a contradiction, an impossible age) gets its reason
    in `error` and missing values elsewhere; nothing raises for one bad row.
    """
    kb = kb if kb is not None else default_kb()
    if top is not None and top < 1:
        raise InputError("top must be at least 1")
    if len(df) <= FRAME_BLOCK:
        return _score(df, kb, top, all_conditions, findings, keep)
    import pandas as pd

    return pd.concat(
        [
            _score(df.iloc[at : at + FRAME_BLOCK], kb, top, all_conditions, findings, keep)
            for at in range(0, len(df), FRAME_BLOCK)
        ]
    )


def _score(
    df: pd.DataFrame,
    kb: CompiledKnowledgeBase,
    top: int | None,
    all_conditions: bool,
    findings: Sequence[str] | None,
    keep: Sequence[str],
) -> pd.DataFrame:
    import numpy as np

    from oms_cli.core import vector

    rows = len(df)
    errors: dict[int, str] = {}
    ages, age_bad = _ages(df, rows, errors)
    onsets = _onsets(df, rows, errors)
    if any(c in df.columns for c in LONG_COLUMNS):
        present_terms = _term_lists(df, "present", rows, errors)
        absent_terms = _term_lists(df, "absent", rows, errors)
        present, absent, bad = vector.term_matrices(kb, present_terms, absent_terms, rows)
    else:
        present, absent, bad = _wide(df, kb, rows, findings, errors)
        present_terms = absent_terms = None  # type: ignore[assignment]
    if errors:
        bad[np.fromiter(errors, np.int64, len(errors))] = True
    bad |= age_bad
    block = vector.Block(present, absent, ages, vector.onset_codes(onsets), bad)
    scores = vector.score_block(kb, block)
    k = shown(kb, top)
    m = vector.model(kb)
    order = scores.order[:, :k]
    ok = scores.ok
    ids = np.array([c.id for c in kb.conditions], dtype=object)
    data: dict[str, Any] = {}
    for name in keep:
        data[name] = df[name].to_numpy()
    # Only the probabilities shown are computed (each is one exp).
    other = np.full((rows, 1), m.n, dtype=np.int64)
    if all_conditions:
        everything = vector.probabilities(scores, np.broadcast_to(np.arange(m.n + 1), (rows, m.n + 1)))
        ranked = np.take_along_axis(everything, order, axis=1)
        for c, cond in enumerate(kb.conditions):
            data[f"p_{cond.id}"] = everything[:, c]
        data["other_probability"] = everything[:, m.n]
    else:
        both = vector.probabilities(scores, np.concatenate([order, other], axis=1))
        ranked = both[:, :k]
        data["other_probability"] = both[:, k]
    for i in range(k):
        names = ids[order[:, i]]
        names[~ok] = None
        data[f"condition_{i + 1}"] = names
        data[f"probability_{i + 1}"] = ranked[:, i]
    error = np.full(rows, None, dtype=object)
    for r in np.flatnonzero(~ok).tolist():
        error[r] = clip(errors.get(r) or _reason(kb, r, present_terms, absent_terms, present, absent, ages, onsets))
    data["error"] = error
    return _frame(data, df.index, kb, top, all_conditions, keep)


def _reason(
    kb: CompiledKnowledgeBase,
    r: int,
    present_terms: list[Sequence[str]] | None,
    absent_terms: list[Sequence[str]] | None,
    present: Any,
    absent: Any,
    ages: Any,
    onsets: list[str | None],
) -> str:
    """Why the engine refuses a row, in its own words (the per-case path)."""
    if present_terms is not None and absent_terms is not None:
        p, a = list(present_terms[r]), list(absent_terms[r])
    else:
        p = [kb.finding_ids[i] for i in present[r].nonzero()[0].tolist()]
        a = [kb.finding_ids[i] for i in absent[r].nonzero()[0].tolist()]
    age = None if math.isnan(ages[r]) else float(ages[r])
    try:
        query = engine.normalise_query(kb, p, a, age, onsets[r])
        engine.rank(kb, query, top=1, contributions=False)
    except OmsError as err:
        return err.message
    return "could not be scored"  # pragma: no cover - the scorer refuses only what the engine refuses


def _term_lists(df: pd.DataFrame, column: str, rows: int, errors: dict[int, str]) -> list[Sequence[str]]:
    if column not in df.columns:
        return [()] * rows
    import numpy as np

    values = df[column].tolist()
    kinds = set(map(type, values))
    if np.ndarray in kinds and kinds <= {np.ndarray, type(None)}:  # Parquet lists as pandas holds them
        values = [() if v is None else v.tolist() for v in values]
        kinds = set(map(type, values))
    if kinds <= _LISTS and set(map(type, itertools.chain.from_iterable(values))) <= _STR_ONLY:
        return values  # type: ignore[no-any-return]  # the common case, checked in C: lists of strings
    out: list[Sequence[str]] = []
    for r, value in enumerate(values):
        try:
            out.append(terms_of(value, column))
        except InputError as err:
            errors.setdefault(r, err.message)
            out.append(())
    return out


def _ages(df: pd.DataFrame, rows: int, errors: dict[int, str]) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    bad = np.zeros(rows, dtype=np.bool_)
    if "age_years" not in df.columns:
        return np.full(rows, np.nan), bad
    col = df["age_years"]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        ages = col.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        wrong = ~np.isnan(ages) & ~((ages >= 0) & (ages <= 120))  # infinities too
        for r in np.flatnonzero(wrong).tolist():
            try:
                check_age(float(ages[r]), col.iloc[r])
            except InputError as err:
                errors.setdefault(r, err.message)
        ages[wrong] = np.nan
        return ages, wrong
    ages = np.full(rows, np.nan)
    for r, value in enumerate(col.tolist()):
        try:
            years = age_of(value)
        except InputError as err:
            errors.setdefault(r, err.message)
            bad[r] = True
            continue
        if years is not None:
            ages[r] = years
    return ages, bad


def _onsets(df: pd.DataFrame, rows: int, errors: dict[int, str]) -> list[str | None]:
    import pandas as pd

    if "onset" not in df.columns:
        return [None] * rows
    codes, uniques = pd.factorize(df["onset"], use_na_sentinel=True)  # each distinct spelling read once
    parsed: list[str | None] = []
    wrong: dict[int, str] = {}
    for u, value in enumerate(uniques.tolist()):
        try:
            parsed.append(onset_of(value))
        except InputError as err:
            parsed.append(None)
            wrong[u] = err.message
    parsed.append(None)  # code -1: missing
    out = [parsed[c] for c in codes.tolist()]
    if wrong:
        for r, c in enumerate(codes.tolist()):
            if c in wrong:
                errors.setdefault(r, wrong[c])
    return out


def _wide(
    df: pd.DataFrame, kb: CompiledKnowledgeBase, rows: int, findings: Sequence[str] | None, errors: dict[int, str]
) -> tuple[Any, Any, Any]:
    import numpy as np

    from oms_cli.core import vector

    index = vector.model(kb).index
    if findings is not None:
        columns = [(name, kb.resolve_finding(name)) for name in findings]  # an unknown name raises
    else:
        columns = []
        for name in df.columns:
            if not isinstance(name, str) or name in NOT_FINDINGS:
                continue
            try:
                columns.append((name, kb.resolve_finding(name)))
            except OmsError:
                continue  # another column of the table (sex, notes, ...)
        if not columns:
            raise InputError(
                "the data frame has no 'present' or 'absent' column and no column named after a finding "
                "(see 'oms-dx findings')"
            )
    present = np.zeros((rows, len(kb.findings)), dtype=np.bool_)
    absent = np.zeros_like(present)
    bad = np.zeros(rows, dtype=np.bool_)
    for name, fid in columns:
        values = _truth(df[name])
        j = index[fid]
        present[:, j] |= values == 1.0
        absent[:, j] |= values == 0.0
        wrong = ~np.isnan(values) & (values != 1.0) & (values != 0.0)
        for r in np.flatnonzero(wrong).tolist():
            errors.setdefault(r, f"column '{name}' must be true, false or missing")
        bad |= wrong
    return present, absent, bad


def _truth(col: pd.Series) -> Any:
    """A finding column as floats: 1 true, 0 false, NaN missing (anything else is reported)."""
    import numpy as np

    try:
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        values = col.tolist()
        out = np.full(len(values), np.nan)
        for r, v in enumerate(values):
            if v is True or v is False:
                out[r] = float(v)
            elif not _missing(v):
                out[r] = 2.0  # reported as not true, false or missing
        return out


def _string_dtype() -> Any:
    import pandas as pd

    # pandas 3 has a string dtype by default ("str"); pandas 2 keeps strings as objects.
    return "str" if int(pd.__version__.split(".")[0]) >= 3 else object


def _frame(
    data: dict[str, Any],
    index: pd.Index,
    kb: CompiledKnowledgeBase,
    top: int | None,
    all_conditions: bool,
    keep: Sequence[str],
) -> pd.DataFrame:
    import pandas as pd

    text = _string_dtype()
    series: dict[str, pd.Series] = {}
    for name in keep:
        series[name] = pd.Series(data[name], index=index)
    for name, kind in result_columns(kb, top, all_conditions):
        series[name] = pd.Series(data[name], index=index, dtype=text if kind == "string" else "float64")
    return pd.DataFrame(series, index=index)


def frame_meta(
    kb: CompiledKnowledgeBase,
    top: int | None = DEFAULT_TOP,
    all_conditions: bool = False,
    keep: dict[str, Any] | None = None,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """An empty result frame with the columns and dtypes `score_frame` returns (Dask's `meta`); `keep` maps the
    kept input columns to their dtypes, `index` is the input's (empty) index."""
    import pandas as pd

    text = _string_dtype()
    index = index[:0] if index is not None else pd.RangeIndex(0)
    series: dict[str, pd.Series] = {
        name: pd.Series([], dtype=dtype, index=index) for name, dtype in (keep or {}).items()
    }
    for name, kind in result_columns(kb, top, all_conditions):
        series[name] = pd.Series([], dtype=text if kind == "string" else "float64", index=index)
    return pd.DataFrame(series, index=index)
