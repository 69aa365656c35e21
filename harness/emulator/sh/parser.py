"""Parser of the emulated ``/system/bin/sh`` (a recursive-descent parser of the mksh subset).

Text -> tokens (lexer.py) -> an AST of dataclasses (syntax.py); nothing here runs anything.
The executor (shell.py) walks the AST over the emulated phone's own file system.

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

import re

from harness.emulator.sh.lexer import NAME_RE, Lexer, Tok
from harness.emulator.sh.syntax import (AndOr, Case, For, FuncDef, Group, If, List, Loop, Pipeline, ShellSyntaxError,
                                        Simple, Word, unexpected, unsupported)

RESERVED = {"if", "then", "elif", "else", "fi", "do", "done", "while", "until", "for", "in", "case", "esac",
            "{", "}", "!"}
UNSUPPORTED_WORDS = {"[[": "[[ ... ]]", "select": "select", "function": "function", "coproc": "coproc",
                     "time": "time"}
ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)=")


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
            m = ASSIGN_RE.match(w.raw)
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
                    and self.peek().value == "(" and w.plain and NAME_RE.match(w.plain):
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
        if t is None or t.kind != "word" or not (t.value.plain and NAME_RE.match(t.value.plain)):
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
