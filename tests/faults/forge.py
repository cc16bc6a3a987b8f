"""A knowledge base forged to share another's CRC-32, Adler-32 and length: the attack on the old cache key."""

from __future__ import annotations

import random
import re
import zlib

_FREE_TEXT = re.compile(rb'"(?:note|estimate|synopsis)": "((?:[^"\\]|\\.)*)"')
_A, _Z = ord("a"), ord("z")


def forge_checksums(original: bytes, changed: bytes) -> bytes:
    """`changed` (as long as `original`) made to share its CRC-32 and Adler-32 by turning lowercase letters of its
    free text (notes, estimates, synopses) into other lowercase letters; still valid JSON."""
    assert len(changed) == len(original)
    out = bytearray(changed)
    letters = [i for m in _FREE_TEXT.finditer(changed) for i in range(m.start(1), m.end(1)) if _A <= out[i] <= _Z]
    taken: set[int] = set()
    rng = random.Random(17)
    # Adler-32 is the sum of the bytes and the sum of its running sums: both are unchanged when the byte changes add
    # up to zero, and so do the changes times their positions. Each change is undone so by six letters near it.
    for at in (i for i in range(len(out)) if original[i] != changed[i]):
        change = original[at] - changed[at]
        near = sorted((i for i in letters if i not in taken), key=lambda i: abs(i - at))[:40]
        for _ in range(1_000_000):
            picks = rng.sample(near, 6)
            moves = {p: rng.randint(_A - out[p], _Z - out[p]) for p in picks[:4]}
            u, v = picks[4], picks[5]
            total = change - sum(moves.values())
            moment = at * change - sum(p * x for p, x in moves.items())
            if (moment - u * total) % (v - u) == 0:
                moves[v] = (moment - u * total) // (v - u)
                moves[u] = total - moves[v]
                if all(_A <= out[p] + x <= _Z for p, x in moves.items()):
                    break
        else:
            raise AssertionError("no Adler-32 fix found")
        for p, x in moves.items():
            out[p] += x
        taken.update(moves)
    assert zlib.adler32(out) == zlib.adler32(original)
    # CRC-32 with four consecutive letters moved by +1, -1, -1, +1 (which leaves Adler-32 alone): CRC-32 is affine,
    # so each such move flips a fixed set of its bits; Gaussian elimination over GF(2) picks moves that flip the
    # difference.
    pool, starts = set(letters) - taken, []
    for p in sorted(pool):
        quad = range(p, p + 4)
        if all(q in pool for q in quad) and out[p] < _Z and out[p + 1] > _A and out[p + 2] > _A and out[p + 3] < _Z:
            starts.append(p)
            pool.difference_update(quad)
        if len(starts) == 64:
            break

    def nudge(buf: bytearray, p: int) -> None:
        buf[p] += 1
        buf[p + 1] -= 1
        buf[p + 2] -= 1
        buf[p + 3] += 1

    base = zlib.crc32(out)
    basis: dict[int, tuple[int, int]] = {}  # leading bit -> (bits flipped, the set of moves that flip them)
    for k, p in enumerate(starts):
        trial = bytearray(out)
        nudge(trial, p)
        flips, moves_mask = zlib.crc32(trial) ^ base, 1 << k
        while flips:
            top = flips.bit_length() - 1
            if top not in basis:
                basis[top] = (flips, moves_mask)
                break
            flips, moves_mask = flips ^ basis[top][0], moves_mask ^ basis[top][1]
    wanted, chosen = base ^ zlib.crc32(original), 0
    while wanted:
        flips, moves_mask = basis[wanted.bit_length() - 1]
        wanted, chosen = wanted ^ flips, chosen ^ moves_mask
    for k, p in enumerate(starts):
        if chosen >> k & 1:
            nudge(out, p)
    return bytes(out)
