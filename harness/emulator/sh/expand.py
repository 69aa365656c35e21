"""Word expansion of the emulated shell: parameters, command substitution, arithmetic,
field splitting on IFS, and pathname globbing over the device's file system (POSIX 2.6,
as mksh does it)."""
from __future__ import annotations

import os
import posixpath
import re

from harness.emulator.sh.arith import ExpansionError, arith_eval
from harness.emulator.sh.lexer import Lexer
from harness.emulator.sh.syntax import ShellSyntaxError, Word

_GLOB = set("*?[")


def _glob_regex(components: list[tuple[str, bool]]) -> re.Pattern:
    out = []
    for text, quoted in components:
        if quoted:
            out.append(re.escape(text))
            continue
        i = 0
        while i < len(text):
            c = text[i]
            if c == "*":
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            elif c == "[":
                j = text.find("]", i + 2 if text[i + 1:i + 2] in ("!", "^", "]") else i + 1)
                if j < 0:
                    out.append(re.escape(c))
                else:
                    body = text[i + 1:j]
                    if body[:1] in ("!", "^"):
                        body = "^" + body[1:]
                    out.append("[" + body.replace("\\", "\\\\") + "]")
                    i = j
            else:
                out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.S)


def pattern_match(pattern: list[tuple[str, bool]], text: str) -> bool:
    """``case`` and ``${X#p}`` patterns."""
    return bool(_glob_regex(pattern).match(text))


class Expander:
    def __init__(self, shell):
        self.sh = shell

    # -- parameters ---------------------------------------------------------------------------
    def param(self, name: str) -> str | None:
        sh = self.sh
        if name == "?":
            return str(sh.status)
        if name == "$":
            return str(sh.pid)
        if name == "#":
            return str(len(sh.args))
        if name == "!":
            return str(sh.last_bg_pid) if sh.last_bg_pid else ""
        if name == "-":
            return "".join(sorted(sh.options))
        if name in ("@", "*"):
            return " ".join(sh.args)
        if name.isdigit():
            k = int(name)
            if k == 0:
                return sh.arg0
            return sh.args[k - 1] if k <= len(sh.args) else None
        return sh.vars.get(name)

    def _param_part(self, part) -> str:
        _, name, op, arg, _quoted = part
        value = self.param(name)
        if op == "#len":
            return str(len(value or ""))
        if not op:
            if value is None and "u" in self.sh.options and name not in ("@", "*"):
                raise ExpansionError(f"{name}: parameter not set")
            return value or ""
        unset = value is None
        empty = unset or (value == "" and op.startswith(":"))
        bare = op.lstrip(":")
        if bare == "-":
            return self.word_text(arg) if empty else value
        if bare == "=":
            if empty:
                value = self.word_text(arg)
                if not re.match(r"[A-Za-z_]\w*$", name):
                    raise ExpansionError(f"{name}: cannot assign")
                self.sh.vars[name] = value
            return value
        if bare == "+":
            return "" if empty else self.word_text(arg)
        if bare == "?":
            if empty:
                msg = self.word_text(arg) if arg and arg.parts else "parameter null or not set"
                raise ExpansionError(f"{name}: {msg}")
            return value
        # ${X#p} ${X##p} ${X%p} ${X%%p}
        value = value or ""
        pat = self.pattern(arg)
        if op in ("#", "##"):
            rng = range(len(value) + 1) if op == "#" else range(len(value), -1, -1)
            for k in rng:
                if pattern_match(pat, value[:k]):
                    return value[k:]
            return value
        rng = range(len(value), -1, -1) if op == "%" else range(len(value) + 1)
        for k in rng:
            if pattern_match(pat, value[k:]):
                return value[:k]
        return value

    # -- arithmetic ---------------------------------------------------------------------------
    def arith(self, text: str) -> str:
        expanded = self.word_text(_reparse(text)) if "$" in text or "`" in text else text
        return str(arith_eval(expanded, self.sh.vars))

    # -- words ---------------------------------------------------------------------------------
    def _part_text(self, part) -> str:
        kind = part[0]
        if kind == "lit":
            return part[1]
        if kind == "param":
            return self._param_part(part)
        if kind == "cmdsub":
            return self.sh.command_output(part[1]).rstrip("\n")
        if kind == "arith":
            return self.arith(part[1])
        raise ShellSyntaxError(f"syntax error: unknown word part {kind}")

    def word_text(self, word: Word | None) -> str:
        """A word expanded without field splitting or globbing (assignments, case, ${X:-w})."""
        if word is None:
            return ""
        return "".join(self._part_text(p) for p in word.parts)

    def pattern(self, word: Word | None) -> list[tuple[str, bool]]:
        """A word as a glob pattern: expansions are taken literally only when quoted."""
        if word is None:
            return []
        return [(self._part_text(p), bool(p[-1])) for p in word.parts]

    def fields(self, word: Word) -> list[str]:
        """Full expansion of one command word: may give zero, one or many fields."""
        ifs = self.sh.vars.get("IFS", " \t\n")
        fields: list[list[tuple[str, bool]]] = []
        cur: list[tuple[str, bool]] = []
        cur_real = False            # the field exists (a quoted part, or non-empty text)
        for part in word.parts:
            kind, quoted = part[0], bool(part[-1])
            if kind == "param" and part[1] == "@" and quoted and not part[2]:
                args = self.sh.args
                for k, a in enumerate(args):
                    if k:
                        fields.append(cur)
                        cur, cur_real = [], True
                    cur.append((a, True))
                    cur_real = True
                continue
            text = self._part_text(part)
            if kind == "lit" or quoted:
                cur.append((text, quoted))
                cur_real = cur_real or quoted or bool(text)
                continue
            # unquoted expansion: split on IFS
            pieces = re.split("[" + re.escape(ifs) + "]+", text) if ifs else [text]
            for k, piece in enumerate(pieces):
                if k:
                    if cur_real:
                        fields.append(cur)
                    cur, cur_real = [], False
                if piece:
                    cur.append((piece, False))   # unquoted results are globbed (POSIX 2.6.6)
                    cur_real = True
        if cur_real:
            fields.append(cur)
        out: list[str] = []
        for comps in fields:
            text = "".join(t for t, _ in comps)
            if any(not q and _GLOB & set(t) for t, q in comps):
                matches = self.glob(comps)
                if matches:
                    out += matches
                    continue
            out.append(text)
        return out

    def glob(self, comps: list[tuple[str, bool]]) -> list[str]:
        """Pathname expansion on the device file system, segment by segment."""
        text = "".join(t for t, _ in comps)
        # Re-split the components at '/' keeping their quoting.
        segments: list[list[tuple[str, bool]]] = [[]]
        for t, q in comps:
            pieces = t.split("/")
            for k, piece in enumerate(pieces):
                if k:
                    segments.append([])
                if piece:
                    segments[-1].append((piece, q))
        absolute = text.startswith("/")
        fs = self.sh.device.fs
        cands = ["/" if absolute else ""]
        for seg in segments:
            if not seg:
                continue
            seg_text = "".join(t for t, _ in seg)
            nxt = []
            for base in cands:
                if any(not q and _GLOB & set(t) for t, q in seg):
                    rx = _glob_regex(seg)
                    try:
                        names = sorted(os.listdir(fs.host(base or ".", self.sh.cwd)))
                    except OSError:
                        continue
                    if base in ("/proc", "/proc/") or fs.normalize(base or ".", self.sh.cwd) == "/proc":
                        names = sorted(set(names) | set(self.sh.device.proc_entries()))
                    for nm in names:
                        if nm.startswith(".") and not seg_text.startswith("."):
                            continue
                        if rx.match(nm):
                            nxt.append(posixpath.join(base, nm) if base else nm)
                else:
                    nxt.append(posixpath.join(base, seg_text) if base else seg_text)
            cands = nxt
        return [c for c in cands if fs.exists(c, self.sh.cwd)]


def _reparse(text: str) -> Word:
    return Lexer(text).word_all()
