"""Arithmetic expansion of the emulated shell, ``$((...))``: C integer expressions without assignment."""
from __future__ import annotations

import ast
import re


class ExpansionError(Exception):
    """``${X:?msg}`` and bad arithmetic: the message goes to stderr, the command fails."""


_ARITH_OK = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Constant, ast.Name, ast.Load,
             ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.USub, ast.UAdd, ast.Not, ast.Invert, ast.Lt, ast.Gt,
             ast.LtE, ast.GtE, ast.Eq, ast.NotEq, ast.And, ast.Or, ast.BitAnd, ast.BitOr, ast.BitXor,
             ast.LShift, ast.RShift, ast.IfExp)


def arith_eval(text: str, variables: dict) -> int:
    """The value of the expression ``text`` with shell ``variables``; raises ExpansionError."""
    return _Evaluator(text, variables).ev(_parse(text))


def _parse(text: str) -> ast.Expression:
    """``text`` as a Python expression tree of the allowed node types only."""
    src = text.strip()
    if re.search(r"(\+\+|--|[^=!<>]=[^=]|^=)", src.replace("==", "  ").replace("!=", "  ")
                 .replace("<=", "  ").replace(">=", "  ")):
        raise ExpansionError(f"{text}: arithmetic assignment is not supported by the emulated phone's shell")
    py = re.sub(r"&&", " and ", src)
    py = re.sub(r"\|\|", " or ", py)
    py = re.sub(r"!(?!=)", " not ", py)
    py = re.sub(r"\b0[xX]([0-9a-fA-F]+)", lambda m: str(int(m.group(1), 16)), py)
    try:
        tree = ast.parse(py or "0", mode="eval")
    except SyntaxError:
        raise ExpansionError(f"{text}: syntax error in expression") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ARITH_OK):
            raise ExpansionError(f"{text}: syntax error in expression")
    return tree


class _Evaluator:
    """Evaluates an allowed tree with C's integer semantics (division truncates toward zero)."""

    def __init__(self, text: str, variables: dict):
        self.text, self.variables = text, variables

    def ev(self, n) -> int:
        if isinstance(n, ast.Expression):
            return self.ev(n.body)
        if isinstance(n, ast.Constant):
            if not isinstance(n.value, int):
                raise ExpansionError(f"{self.text}: bad number")
            return n.value
        if isinstance(n, ast.Name):
            return self._variable(n.id)
        if isinstance(n, ast.UnaryOp):
            v = self.ev(n.operand)
            return {ast.USub: -v, ast.UAdd: v, ast.Not: int(not v), ast.Invert: ~v}[type(n.op)]
        if isinstance(n, ast.BoolOp):
            if isinstance(n.op, ast.And):
                return int(all(self.ev(v) for v in n.values))
            return int(any(self.ev(v) for v in n.values))
        if isinstance(n, ast.IfExp):
            return self.ev(n.body) if self.ev(n.test) else self.ev(n.orelse)
        if isinstance(n, ast.Compare):
            return self._compare(n)
        return self._binary(n)

    def _variable(self, name: str) -> int:
        raw = self.variables.get(name, "") or "0"
        try:
            return int(raw, 0) if raw.strip().lstrip("-").isdigit() or raw.startswith("0x") else int(raw)
        except ValueError:
            return arith_eval(raw, self.variables)

    def _compare(self, n: ast.Compare) -> int:
        left = self.ev(n.left)
        for op, right_node in zip(n.ops, n.comparators):
            right = self.ev(right_node)
            ok = {ast.Lt: left < right, ast.Gt: left > right, ast.LtE: left <= right, ast.GtE: left >= right,
                  ast.Eq: left == right, ast.NotEq: left != right}[type(op)]
            if not ok:
                return 0
            left = right
        return 1

    def _binary(self, n: ast.BinOp) -> int:
        a, b = self.ev(n.left), self.ev(n.right)
        if isinstance(n.op, (ast.Div, ast.Mod)) and b == 0:
            raise ExpansionError(f"{self.text}: divide by zero")
        if isinstance(n.op, ast.Div):
            q = abs(a) // abs(b)
            return q if (a >= 0) == (b >= 0) else -q
        if isinstance(n.op, ast.Mod):
            r = abs(a) % abs(b)
            return r if a >= 0 else -r
        return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b, ast.BitAnd: a & b, ast.BitOr: a | b,
                ast.BitXor: a ^ b, ast.LShift: a << b, ast.RShift: a >> b}[type(n.op)]
