"""Values written as text, the same for the command line, the explorer and the widget: ranges of layers
(``"2-4,7"``) and heads (``"2.5"``). Each parser raises ``ConfigError`` naming the text; the command line turns
that into argparse's one-line error, the explorer into a 400."""

from __future__ import annotations

from othello.errors import ConfigError

__all__ = ["parse_range", "parse_head"]


def _whole(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{where!r}: {text.strip()!r} is not a whole number") from None


def parse_range(text: str, lower: int = 0, upper: int | None = None) -> tuple[int, ...]:
    """Layers and the like: ``"4-8"`` -> (4, 5, 6, 7, 8); ``"3,5,7"``; ``"2-4,7"``; each in ``lower..upper``.

    The bounds are checked before a range is expanded, so ``"0-1000000000"`` is refused at once, not after
    building a list of a billion numbers."""
    out: list[int] = []
    for part in text.split(","):
        a, dash, b = part.strip().partition("-")
        lo = _whole(a, text)
        hi = _whole(b, text) if dash else lo
        if lo < 0 or hi < lo:
            raise ConfigError(f"{text!r}: write a range as LOW-HIGH with 0 <= LOW <= HIGH, or a list like 3,5,7")
        if lo < lower or (upper is not None and hi > upper):
            bad = lo if lo < lower else hi
            raise ConfigError(f"{text!r}: {bad} is out of range: expected {lower}..{'' if upper is None else upper}")
        out += range(lo, hi + 1)
    return tuple(out)


def parse_head(text: str) -> tuple[int, int]:
    """``"2.5"`` -> (2, 5): block 2's head 5, as heads are named everywhere (``--pattern``, the widget's ``head``)."""
    layer, dot, head = text.partition(".")
    if not dot or not layer.isdigit() or not head.isdigit():
        raise ConfigError(f"{text!r}: write a head as LAYER.HEAD, like 2.5")
    return int(layer), int(head)
