"""The emulated shell's syntax tree (what parser.py builds and shell.py runs) and its syntax errors."""
from __future__ import annotations

import dataclasses


class ShellSyntaxError(Exception):
    """``message`` is what follows ``/system/bin/sh: `` (e.g. ``syntax error: unexpected 'fi'``)."""


def unexpected(tok: str | None) -> ShellSyntaxError:
    return ShellSyntaxError("syntax error: unexpected EOF" if tok is None else f"syntax error: unexpected '{tok}'")


def unsupported(what: str) -> ShellSyntaxError:
    return ShellSyntaxError(f"syntax error: '{what}' is not supported by the emulated phone's shell")


@dataclasses.dataclass
class Word:
    # parts: ("lit", text, quoted) | ("param", name, op, arg Word|None, quoted)
    #      | ("cmdsub", List, quoted) | ("arith", text, quoted)
    parts: list
    raw: str = ""

    @property
    def plain(self) -> str | None:
        """The word's text if it is one unquoted literal (reserved words, names)."""
        if len(self.parts) == 1 and self.parts[0][0] == "lit" and not self.parts[0][2]:
            return self.parts[0][1]
        return None


@dataclasses.dataclass
class Redir:
    fd: int
    op: str                  # < > >> <> >& <&
    target: Word | None = None
    dup: str | None = None   # for >&N / <&N: the N ("-" closes)


@dataclasses.dataclass
class Simple:
    assigns: list            # [(name, Word)]
    words: list              # [Word]
    redirs: list


@dataclasses.dataclass
class Pipeline:
    cmds: list
    negate: bool = False


@dataclasses.dataclass
class AndOr:
    first: Pipeline
    rest: list               # [("&&"|"||", Pipeline)]
    background: bool = False


@dataclasses.dataclass
class List:
    items: list              # [AndOr]


@dataclasses.dataclass
class Compound:
    """A compound command; ``redirs`` apply to all of it (``{ ...; } > file``)."""

    redirs: list = dataclasses.field(default_factory=list, kw_only=True)


@dataclasses.dataclass
class If(Compound):
    clauses: list            # [(cond List, body List)]
    else_body: List | None


@dataclasses.dataclass
class Loop(Compound):
    cond: List
    body: List
    until: bool = False


@dataclasses.dataclass
class For(Compound):
    var: str
    words: list | None       # None: "$@"
    body: List


@dataclasses.dataclass
class Case(Compound):
    word: Word
    items: list              # [([pattern Word], List)]


@dataclasses.dataclass
class Group(Compound):
    body: List
    subshell: bool = False


@dataclasses.dataclass
class FuncDef:
    name: str
    body: object
