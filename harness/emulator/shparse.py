"""Parser of the emulated ``/system/bin/sh`` (a recursive-descent parser of the mksh subset).

Text -> tokens -> an AST of tuples-like dataclasses; nothing here runs anything. The
executor (shell.py) walks the AST over the emulated phone's own file system.

Grammar covered (POSIX sh as mksh on Android 14 runs it): simple commands with
assignments, words with single/double quotes and backslashes, ``$VAR ${VAR} ${VAR:-w}
${VAR:=w} ${VAR:+w} ${VAR:?w} ${#VAR}``, ``$(...)``, backticks, ``$((...))``, ``| && || ; &
!``, newlines, ``{ ...; }``, ``( ... )``, ``if/elif/else/fi``, ``while``, ``until``, ``for``,
``case``, ``name() { ...; }``, redirections ``< > >> >| <> N>&M N<&M &>``, ``#`` comments.

Syntax errors are reported as mksh R59 does (``syntax error: unexpected 'fi'``,
``syntax error: unmatched 'if'``, ``syntax error: unexpected EOF``); constructs the
emulated shell does not implement (here-documents, ``[[ ]]``, ``((``, ``select``,
``function``, ``coproc``) are refused as a syntax error naming them, before anything runs.
"""
from __future__ import annotations

import dataclasses
import re

RESERVED = {"if", "then", "elif", "else", "fi", "do", "done", "while", "until", "for", "in", "case", "esac",
            "{", "}", "!"}
UNSUPPORTED_WORDS = {"[[": "[[ ... ]]", "select": "select", "function": "function", "coproc": "coproc",
                     "time": "time"}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")
_ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)=")


class ShellSyntaxError(Exception):
    """``message`` is what follows ``/system/bin/sh: `` (e.g. ``syntax error: unexpected 'fi'``)."""


def unexpected(tok: str | None) -> ShellSyntaxError:
    return ShellSyntaxError("syntax error: unexpected EOF" if tok is None else f"syntax error: unexpected '{tok}'")


def unsupported(what: str) -> ShellSyntaxError:
    return ShellSyntaxError(f"syntax error: '{what}' is not supported by the emulated phone's shell")


# -- AST ------------------------------------------------------------------------------------
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
class If:
    clauses: list            # [(cond List, body List)]
    else_body: List | None
    redirs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Loop:
    cond: List
    body: List
    until: bool = False
    redirs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class For:
    var: str
    words: list | None       # None: "$@"
    body: List
    redirs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Case:
    word: Word
    items: list              # [([pattern Word], List)]
    redirs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Group:
    body: List
    subshell: bool = False
    redirs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class FuncDef:
    name: str
    body: object


# -- lexer ----------------------------------------------------------------------------------
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
            return ("cmdsub", parse(text[i + 1:close]), quoted)
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
        return ("cmdsub", parse("".join(inner)), quoted)


def _param_expr(body: str, quoted: bool):
    """``${...}``: ${NAME}, ${#NAME}, ${NAME:-w} ${NAME-w} := = :+ + :? ?, ${NAME#p} ## % %%."""
    if body.startswith("#") and len(body) > 1:
        name = body[1:]
        if not (_NAME_RE.match(name) or name in ("?", "#", "$", "@", "*") or name.isdigit()):
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


def _word_all(self: Lexer) -> Word:
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


Lexer.word_all = _word_all


# -- parser ---------------------------------------------------------------------------------
class Parser:
    def __init__(self, tokens: list[Tok]):
        self.toks = tokens
        self.k = 0

    def peek(self) -> Tok | None:
        return self.toks[self.k] if self.k < len(self.toks) else None

    def next(self) -> Tok | None:
        t = self.peek()
        self.k += 1
        return t

    def reserved(self, tok: Tok | None) -> str | None:
        if tok is not None and tok.kind == "word":
            p = tok.value.plain
            if p in RESERVED:
                return p
        return None

    @staticmethod
    def describe(tok: Tok | None) -> str | None:
        if tok is None:
            return None
        if tok.kind == "nl":
            return "newline"
        if tok.kind == "word":
            return tok.value.raw
        if tok.kind == "redir":
            return ">" if tok.value.op[0] == ">" else "<"
        return tok.value

    def skip_nl(self) -> None:
        while self.peek() is not None and self.peek().kind == "nl":
            self.k += 1

    def expect_word(self, word: str, opened: str) -> None:
        self.skip_nl()
        t = self.next()
        if self.reserved(t) != word:
            if t is None:
                raise ShellSyntaxError(f"syntax error: unmatched '{opened}'")
            raise unexpected(self.describe(t))

    def program(self) -> List:
        body = self.compound_list(terminators=())
        if self.peek() is not None:
            raise unexpected(self.describe(self.peek()))
        return body

    def compound_list(self, terminators: tuple) -> List:
        items = []
        while True:
            self.skip_nl()
            t = self.peek()
            if t is None or self.reserved(t) in terminators or (t.kind == "op" and t.value in (")", ";;")):
                return List(items)
            item = self.and_or()
            t = self.peek()
            if t is not None and t.kind == "op" and t.value in (";", "&"):
                self.k += 1
                item.background = t.value == "&"
            elif t is not None and t.kind == "nl":
                self.k += 1
            items.append(item)
            if t is not None and t.kind == "op" and t.value in ("&&", "||", "|"):
                raise unexpected(t.value)

    def and_or(self) -> AndOr:
        first = self.pipeline()
        rest = []
        while self.peek() is not None and self.peek().kind == "op" and self.peek().value in ("&&", "||"):
            op = self.next().value
            self.skip_nl()
            rest.append((op, self.pipeline()))
        return AndOr(first, rest)

    def pipeline(self) -> Pipeline:
        negate = False
        while self.reserved(self.peek()) == "!":
            self.k += 1
            negate = not negate
        cmds = [self.command()]
        while self.peek() is not None and self.peek().kind == "op" and self.peek().value == "|":
            self.k += 1
            self.skip_nl()
            cmds.append(self.command())
        return Pipeline(cmds, negate)

    def command(self):
        t = self.peek()
        if t is None:
            raise unexpected(None)
        word = self.reserved(t)
        if t.kind == "word" and t.value.plain in UNSUPPORTED_WORDS:
            raise unsupported(UNSUPPORTED_WORDS[t.value.plain])
        if word == "if":
            node = self.if_clause()
        elif word in ("while", "until"):
            self.k += 1
            cond = self.compound_list(("do",))
            self.expect_word("do", word)
            body = self.compound_list(("done",))
            self.expect_word("done", word)
            node = Loop(cond, body, until=word == "until")
        elif word == "for":
            node = self.for_clause()
        elif word == "case":
            node = self.case_clause()
        elif word == "{":
            self.k += 1
            body = self.compound_list(("}",))
            self.expect_word("}", "{")
            node = Group(body)
        elif t.kind == "op" and t.value == "(":
            self.k += 1
            if self.peek() is not None and self.peek().kind == "op" and self.peek().value == "(":
                raise unsupported("((")
            body = self.compound_list(())
            t2 = self.next()
            if t2 is None or t2.kind != "op" or t2.value != ")":
                raise ShellSyntaxError("syntax error: unmatched '('") if t2 is None else unexpected(self.describe(t2))
            node = Group(body, subshell=True)
        elif word is not None:
            raise unexpected(word)
        elif t.kind == "op":
            raise unexpected(t.value)
        else:
            return self.simple()
        node.redirs = self.redirs()
        return node

    def redirs(self) -> list:
        out = []
        while self.peek() is not None and self.peek().kind == "redir":
            out.append(self.next().value)
        return out

    def simple(self):
        assigns, words, redirs = [], [], []
        while True:
            t = self.peek()
            if t is None or t.kind in ("nl", "op"):
                break
            if t.kind == "redir":
                redirs.append(self.next().value)
                continue
            w = t.value
            m = _ASSIGN_RE.match(w.raw)
            if not words and m and w.parts and w.parts[0][0] == "lit" and not w.parts[0][2] \
                    and w.parts[0][1].startswith(m.group(0)):
                self.k += 1
                first = ("lit", w.parts[0][1][len(m.group(0)):], False)
                assigns.append((m.group(1), Word([first] + w.parts[1:], w.raw[len(m.group(0)):])))
                continue
            self.k += 1
            words.append(w)
            # name() { ...; }: a function definition
            if len(words) == 1 and not assigns and self.peek() is not None and self.peek().kind == "op" \
                    and self.peek().value == "(" and w.plain and _NAME_RE.match(w.plain):
                nxt = self.toks[self.k + 1] if self.k + 1 < len(self.toks) else None
                if nxt is not None and nxt.kind == "op" and nxt.value == ")":
                    self.k += 2
                    self.skip_nl()
                    return FuncDef(w.plain, self.command())
        if not assigns and not words and not redirs:
            raise unexpected(self.describe(self.peek()))
        return Simple(assigns, words, redirs)

    def if_clause(self) -> If:
        self.k += 1
        clauses = []
        cond = self.compound_list(("then",))
        self.expect_word("then", "if")
        body = self.compound_list(("elif", "else", "fi"))
        clauses.append((cond, body))
        else_body = None
        while True:
            self.skip_nl()
            t = self.next()
            w = self.reserved(t)
            if w == "elif":
                cond = self.compound_list(("then",))
                self.expect_word("then", "elif")
                clauses.append((cond, self.compound_list(("elif", "else", "fi"))))
            elif w == "else":
                else_body = self.compound_list(("fi",))
                self.expect_word("fi", "if")
                return If(clauses, else_body)
            elif w == "fi":
                return If(clauses, else_body)
            elif t is None:
                raise ShellSyntaxError("syntax error: unmatched 'if'")
            else:
                raise unexpected(self.describe(t))

    def for_clause(self) -> For:
        self.k += 1
        t = self.next()
        if t is None or t.kind != "word" or not (t.value.plain and _NAME_RE.match(t.value.plain)):
            raise unexpected(self.describe(t))
        var = t.value.plain
        words = None
        self.skip_nl()
        if self.reserved(self.peek()) == "in":
            self.k += 1
            words = []
            while self.peek() is not None and self.peek().kind == "word":
                words.append(self.next().value)
        t = self.peek()
        if t is not None and (t.kind == "nl" or (t.kind == "op" and t.value == ";")):
            self.k += 1
        self.expect_word("do", "for")
        body = self.compound_list(("done",))
        self.expect_word("done", "for")
        return For(var, words, body)

    def case_clause(self) -> Case:
        self.k += 1
        t = self.next()
        if t is None or t.kind != "word":
            raise unexpected(self.describe(t))
        word = t.value
        self.skip_nl()
        if self.reserved(self.next()) != "in":
            raise unexpected(self.describe(self.toks[self.k - 1] if self.k - 1 < len(self.toks) else None))
        items = []
        while True:
            self.skip_nl()
            t = self.peek()
            if self.reserved(t) == "esac":
                self.k += 1
                return Case(word, items)
            if t is None:
                raise ShellSyntaxError("syntax error: unmatched 'case'")
            if t.kind == "op" and t.value == "(":
                self.k += 1
            patterns = []
            while True:
                t = self.next()
                if t is None or t.kind != "word":
                    raise unexpected(self.describe(t))
                patterns.append(t.value)
                t = self.next()
                if t is not None and t.kind == "op" and t.value == "|":
                    continue
                if t is not None and t.kind == "op" and t.value == ")":
                    break
                raise unexpected(self.describe(t))
            body = self.compound_list(("esac",))
            items.append((patterns, body))
            t = self.peek()
            if t is not None and t.kind == "op" and t.value == ";;":
                self.k += 1


def parse(text: str) -> List:
    """The AST of ``text``; raises ShellSyntaxError."""
    return Parser(Lexer(text).tokens()).program()
