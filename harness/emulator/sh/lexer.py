"""The emulated shell's lexer: text -> words (quotes, ``$...`` expansions, backticks), operators and redirections."""
from __future__ import annotations

import dataclasses
import re

from harness.emulator.sh.syntax import Redir, ShellSyntaxError, Word, unexpected, unsupported

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")


def _parse(text: str):
    """The AST of a command substitution's text (the parser, which uses this lexer)."""
    from harness.emulator.sh.parser import parse

    return parse(text)


@dataclasses.dataclass
class Tok:
    kind: str                # "word", "op", "redir", "nl"
    value: object            # Word, operator text, Redir


_OPS = ("&&", "||", ";;", "<<", ">>", "<>", ">&", "<&", ">|", "&>", "|", "&", ";", "(", ")", "<", ">")
_WORD_END = set(" \t\n;&|<>()")


def _find_close(text: str, i: int, opener: str, closer: str) -> int:
    """Index of the ``closer`` that balances an ``opener`` already consumed before ``i``
    (quotes and nested $(...) respected)."""
    depth, n = 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("syntax error: unterminated quoted string")
            i = j + 1
            continue
        if c == '"':
            i = _skip_dquote(text, i + 1)
            continue
        if c == "`":
            j = i + 1
            while j < n and text[j] != "`":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellSyntaxError(f"syntax error: unmatched '{opener}'" if opener != "(" else "syntax error: unmatched '('")


def _skip_dquote(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "$" and text.startswith("$(", i):
            i = _find_close(text, i + 2, "(", ")") + 1
        elif c == "`":
            j = i + 1
            while j < n and text[j] != "`":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        else:
            i += 1
    raise ShellSyntaxError("syntax error: unterminated quoted string")


class Lexer:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def tokens(self) -> list[Tok]:
        out: list[Tok] = []
        text, n = self.text, len(self.text)
        while True:
            while self.i < n and text[self.i] in " \t":
                self.i += 1
            if self.i < n and text[self.i] == "\\" and text.startswith("\\\n", self.i):
                self.i += 2
                continue
            if self.i >= n:
                return out
            c = text[self.i]
            if c == "#":
                while self.i < n and text[self.i] != "\n":
                    self.i += 1
                continue
            if c == "\n":
                out.append(Tok("nl", "\n"))
                self.i += 1
                continue
            if c.isdigit():
                j = self.i
                while j < n and text[j].isdigit():
                    j += 1
                if j < n and text[j] in "<>":
                    fd = int(text[self.i:j])
                    self.i = j
                    out.append(self._redir(fd))
                    continue
            if c in "<>&|;()":
                op = next(o for o in _OPS if text.startswith(o, self.i))
                if op in ("<", ">", ">>", "<>", ">&", "<&", ">|", "<<"):
                    out.append(self._redir(None))
                    continue
                self.i += len(op)
                if op == "&>":
                    target = self._word_after_redir()
                    out.append(Tok("redir", Redir(1, ">", target)))
                    out.append(Tok("redir", Redir(2, ">&", dup="1")))
                    continue
                out.append(Tok("op", op))
                continue
            out.append(Tok("word", self.word()))

    def _redir(self, fd: int | None) -> Tok:
        text = self.text
        op = next(o for o in ("<<", ">>", "<>", ">&", "<&", ">|", "<", ">") if text.startswith(o, self.i))
        self.i += len(op)
        if op == "<<":
            raise unsupported("<< (here-documents)")
        if fd is None:
            fd = 0 if op[0] == "<" else 1
        if op in (">&", "<&"):
            while self.i < len(text) and text[self.i] in " \t":
                self.i += 1
            m = re.match(r"(\d+|-)(?=$|[\s;&|<>()])", text[self.i:])
            if m:
                self.i += len(m.group(0))
                return Tok("redir", Redir(fd, op, dup=m.group(1)))
            if op == ">&":   # >&file (csh style) is what mksh reads as "> file 2>&1"? keep it strict
                raise ShellSyntaxError("syntax error: bad file descriptor after '>&'")
            raise ShellSyntaxError("syntax error: bad file descriptor after '<&'")
        return Tok("redir", Redir(fd, ">" if op == ">|" else op, self._word_after_redir()))

    def _word_after_redir(self) -> Word:
        text = self.text
        while self.i < len(text) and text[self.i] in " \t":
            self.i += 1
        if self.i >= len(text) or text[self.i] in "\n;&|<>()":
            raise unexpected(None if self.i >= len(text) else ("newline" if text[self.i] == "\n" else text[self.i]))
        return self.word()

    # -- words ----------------------------------------------------------------------------
    def word(self) -> Word:
        text, n = self.text, len(self.text)
        start = self.i
        parts: list = []
        buf: list[str] = []

        def flush(quoted=False):
            if buf:
                parts.append(("lit", "".join(buf), quoted))
                buf.clear()

        while self.i < n and text[self.i] not in _WORD_END:
            c = text[self.i]
            if c == "\\":
                flush()
                if self.i + 1 < n and text[self.i + 1] != "\n":
                    parts.append(("lit", text[self.i + 1], True))
                self.i += 2
            elif c == "'":
                flush()
                j = text.find("'", self.i + 1)
                if j < 0:
                    raise ShellSyntaxError("syntax error: unterminated quoted string")
                parts.append(("lit", text[self.i + 1:j], True))
                self.i = j + 1
            elif c == '"':
                flush()
                self.i += 1
                self._dquote(parts)
            elif c == "$":
                flush()
                parts.append(self._dollar(False))
            elif c == "`":
                flush()
                parts.append(self._backtick(False))
            else:
                buf.append(c)
                self.i += 1
        flush()
        return Word(parts, text[start:self.i])

    def word_all(self) -> Word:
        """The whole text as one word (spaces kept literally): the argument of ${X:-a b}."""
        text = self.text
        parts: list = []
        while self.i < len(text):
            if text[self.i] in _WORD_END:
                parts.append(("lit", text[self.i], True))
                self.i += 1
                continue
            parts += self.word().parts
        return Word(parts, text)

    def _dquote(self, parts: list) -> None:
        text, n = self.text, len(self.text)
        buf: list[str] = []
        had = False
        while True:
            if self.i >= n:
                raise ShellSyntaxError("syntax error: unterminated quoted string")
            c = text[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\" and self.i + 1 < n and text[self.i + 1] in '$`"\\\n':
                if text[self.i + 1] != "\n":
                    buf.append(text[self.i + 1])
                self.i += 2
            elif c in "$`":
                if buf:
                    parts.append(("lit", "".join(buf), True))
                    buf = []
                parts.append(self._dollar(True) if c == "$" else self._backtick(True))
                had = True
            else:
                buf.append(c)
                self.i += 1
        if buf or not had:
            parts.append(("lit", "".join(buf), True))

    def _dollar(self, quoted: bool):
        text, n = self.text, len(self.text)
        i = self.i + 1
        if text.startswith("((", i):
            close = text.find("))", i + 2)
            if close < 0:
                raise ShellSyntaxError("syntax error: unmatched '$(('")
            self.i = close + 2
            return ("arith", text[i + 2:close], quoted)
        if i < n and text[i] == "(":
            close = _find_close(text, i + 1, "(", ")")
            self.i = close + 1
            return ("cmdsub", _parse(text[i + 1:close]), quoted)
        if i < n and text[i] == "{":
            close = _find_close(text, i + 1, "{", "}")
            self.i = close + 1
            return _param_expr(text[i + 1:close], quoted)
        if i < n and (text[i] in "?$#!@*-" or text[i].isdigit()):
            self.i = i + 1
            return ("param", text[i], "", None, quoted)
        m = re.match(r"[A-Za-z_][A-Za-z_0-9]*", text[i:])
        if not m:
            self.i = i
            return ("lit", "$", quoted)
        self.i = i + m.end()
        return ("param", m.group(0), "", None, quoted)

    def _backtick(self, quoted: bool):
        text, n = self.text, len(self.text)
        j, inner = self.i + 1, []
        while True:
            if j >= n:
                raise ShellSyntaxError("syntax error: unmatched '`'")
            c = text[j]
            if c == "`":
                break
            if c == "\\" and j + 1 < n and text[j + 1] in "$`\\":
                inner.append(text[j + 1])
                j += 2
                continue
            inner.append(c)
            j += 1
        self.i = j + 1
        return ("cmdsub", _parse("".join(inner)), quoted)


def _param_expr(body: str, quoted: bool):
    """``${...}``: ${NAME}, ${#NAME}, ${NAME:-w} ${NAME-w} := = :+ + :? ?, ${NAME#p} ## % %%."""
    if body.startswith("#") and len(body) > 1:
        name = body[1:]
        if not (NAME_RE.match(name) or name in ("?", "#", "$", "@", "*") or name.isdigit()):
            raise ShellSyntaxError(f"syntax error: ${{{body}}}: bad substitution")
        return ("param", name, "#len", None, quoted)
    m = re.match(r"([A-Za-z_][A-Za-z_0-9]*|[0-9]+|[?$#!@*-])", body)
    if not m:
        raise ShellSyntaxError(f"${{{body}}}: bad substitution")
    name, rest = m.group(1), body[m.end():]
    if not rest:
        return ("param", name, "", None, quoted)
    m2 = re.match(r"(:-|:=|:\+|:\?|-|=|\+|\?|##|#|%%|%)", rest)
    if not m2:
        raise ShellSyntaxError(f"${{{body}}}: bad substitution")
    op, arg = m2.group(1), rest[m2.end():]
    sub = Lexer(arg)
    word = sub.word_all()
    return ("param", name, op, word, quoted)
