"""Java-style command-line options as Android's shell commands read them (am, logcat): one at a time, in order."""
from __future__ import annotations

from typing import Iterator


class MissingValue(Exception):
    """An option that takes values came last, without them; ``option`` names it."""

    def __init__(self, option: str):
        super().__init__(option)
        self.option = option


def scan(args: list[str], arity: dict[str, int], joined: tuple[str, ...] = ()) -> Iterator[tuple[str, list[str]]]:
    """Yield each word of ``args`` with the values it takes (``arity[word]`` of the words after it,
    none for flags and operands); the caller tells options from operands.

    ``--name=value`` is read as ``--name value`` for the names in ``joined``. Raises
    MissingValue when the values run out, at that option (after the ones before it were yielded).
    """
    args = list(args)
    i = 0
    while i < len(args):
        word = args[i]
        name, eq, inline = word.partition("=")
        if eq and name in joined:
            args[i:i + 1] = [name, inline]
            word = name
        n = arity.get(word, 0)
        if i + n >= len(args) and n:
            raise MissingValue(word)
        yield word, args[i + 1:i + 1 + n]
        i += 1 + n
