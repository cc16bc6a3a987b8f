"""Batch records written straight from a block scored at once (core/vector.py's ScoredBlock): the same bytes as
output/records.py writes from the outcome objects, without building them.

A JSON Lines record is assembled from fragments: per rank and condition the fixed head (`{"rank":1,"id":..,
"name":..,"probability":`), per age band, onset and condition the fixed tail (cant_miss and the log prior, age
and onset terms), and the probabilities, which orjson formats for the whole block in one call (a float is
written the same inside a list as inside an object). Tests compare the bytes with records.py's on every path.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

from oms_cli.kb.compiled import derived
from oms_cli.output.jsondoc import SCHEMA_VERSION

if TYPE_CHECKING:
    from oms_cli.core.vector import Model, ScoredBlock

# The start of every scored record, as output/records.py writes it.
RECORD_HEAD = b'{"schema_version":"%s","id":' % SCHEMA_VERSION.encode()


class _Fragments:
    """The fixed parts of the records of one knowledge base."""

    def __init__(self, m: Model) -> None:
        import orjson

        dumps = orjson.dumps
        heads = m.t.heads
        self.model = m
        # Rank 2 on starts with the comma that separates it from the one before.
        self.head = [
            [
                b'%s{"rank":%d,"id":%s,"name":%s,"probability":'
                % (b"," if pos > 1 else b"", pos, dumps(cid), dumps(name))
                for cid, name, _ in heads
            ]
            for pos in range(1, len(heads) + 1)
        ]
        self.cant_miss = [b"true" if flag else b"false" for _, _, flag in heads]
        self.tails: dict[int, list[bytes]] = {}

    def tail(self, base: int) -> list[bytes]:
        """Per condition, what follows the probability: cant_miss and the prior, age and onset terms of a base."""
        found = self.tails.get(base)
        if found is None:
            import orjson

            dumps = orjson.dumps
            _, log_priors, log_ages, log_onsets, _ = self.model.bases[base]
            found = self.tails[base] = [
                b',"cant_miss":%s,"log_prior":%s,"log_age":%s,"log_onset":%s}'
                % (flag, dumps(log_priors[c]), dumps(log_ages[c]), dumps(log_onsets[c]))
                for c, flag in enumerate(self.cant_miss)
            ]
        return found


_fragments = derived(_Fragments)


def json_lines(block: ScoredBlock) -> bytes:
    """The JSON Lines records of a scored block (lean records: no contributions)."""
    try:
        return _json_lines(block)
    except TypeError:  # an integer id beyond 64 bits: the general encoder writes the whole block its own way
        from oms_cli.output.formats import Format
        from oms_cli.output.records import encoder

        return encoder(Format.json)(list(block))


def _json_lines(block: ScoredBlock) -> bytes:
    import orjson

    from oms_cli.output.records import record

    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    frags = _fragments(block.model)
    shown = block.shown
    width = shown + 1
    numbers = dumps(block.probability.ravel().tolist())
    pieces = numbers[1:-1].split(b",") if block.probability.size else []
    orders: list[list[int]] = block.order.tolist()
    bases: list[int] = block.base.tolist()
    heads = frags.head[:shown]
    pick = list.__getitem__
    out: list[bytes] = []
    add, extend = out.append, out.extend
    for i, item in enumerate(block.items):
        r = block.rows[i]
        if r < 0:
            add(dumps(record(block.outcomes[i]), option=newline))
            continue
        at = r * width
        order = orders[r]
        add(RECORD_HEAD)
        add(dumps(item.id))
        add(b',"line":%d,"results":[' % item.line)
        # head, probability and tail of each ranked condition, interleaved in C
        extend(
            chain.from_iterable(
                zip(
                    map(pick, heads, order),
                    pieces[at : at + shown],
                    map(frags.tail(bases[r]).__getitem__, order),
                    strict=True,
                )
            )
        )
        add(b'],"other_probability":')
        add(pieces[at + shown])
        warnings = block.warnings(item)  # type: ignore[arg-type]
        if warnings:
            add(b',"warnings":')
            add(dumps(list(warnings)))
        if item.source is not None:
            add(b',"source":')
            add(dumps(item.source))
        add(b"}\n")
    return b"".join(out)
