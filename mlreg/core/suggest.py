"""`did you mean ...?`: the names nearest a misspelt one (difflib), for error messages. No I/O."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` (the nearest choice; several only when equally near), or '' when none is close."""
    by_lower: dict[str, str] = {}
    for c in sorted(set(choices)):
        by_lower.setdefault(c.lower(), c)
    if word.lower() in by_lower and by_lower[word.lower()] != word:  # only the case differs
        close = [by_lower[word.lower()]]
    else:
        close = [by_lower[m] for m in _nearest(word.lower(), list(by_lower)) if by_lower[m] != word]
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def _nearest(word: str, pool: list[str], cutoff: float = 0.6) -> list[str]:
    """The choices most similar to `word` (ties kept, at most three), if similar enough."""
    import difflib  # only on an error's path: reads never pay for it

    scored = [(difflib.SequenceMatcher(None, word, c).ratio(), c) for c in pool]
    best = max((r for r, _ in scored), default=0.0)
    return [c for r, c in scored if r == best][:3] if best >= cutoff else []
