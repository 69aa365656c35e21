"""toybox's text commands: echo, printf, grep, head, tail, wc, tr, cut, sort, tee, seq.

Filters read their input as it arrives, so ``logcat | grep X`` follows the log.
"""
from __future__ import annotations

import re

from harness.emulator.cmds.common import errmsg, file_lines, split_flags
from harness.emulator.sh.streams import Ctx, FileSink


def _escapes(text: str) -> tuple[str, bool]:
    """mksh echo/print escapes (\\a \\b \\c \\e \\f \\n \\r \\t \\v \\\\ \\0nnn); \\c stops output."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        n = text[i + 1]
        if n == "c":
            return "".join(out), True
        if n == "0":
            m = re.match(r"[0-7]{0,3}", text[i + 2:])
            out.append(chr(int(m.group(0) or "0", 8)))
            i += 2 + len(m.group(0))
            continue
        table = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                 "\\": "\\"}
        out.append(table.get(n, "\\" + n))
        i += 2
    return "".join(out), False


def cmd_echo(ctx: Ctx) -> int:
    """mksh's echo: backslash escapes are interpreted by default on Android (neither
    MKSH_BINSHPOSIX nor MKSH_BINSHREDUCED is defined there); -n, -e, -E."""
    args = ctx.argv[1:]
    newline, escapes = True, True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flag = args.pop(0)
        for ch in flag[1:]:
            newline = newline and ch != "n"
            escapes = ch == "e" if ch in "eE" else escapes
    text = " ".join(args)
    stop = False
    if escapes:
        text, stop = _escapes(text)
    ctx.out(text + ("\n" if newline and not stop else ""))
    return 0


def cmd_grep(ctx: Ctx) -> int:
    """toybox grep, line by line as input arrives (so ``logcat | grep X`` follows)."""
    parsed = split_flags(ctx, "qvicEFnlHhwmo", with_value="em")
    if parsed is None:
        return 2
    flags, values, operands = parsed
    if "e" in values:
        pattern = values["e"]
    elif operands:
        pattern = operands.pop(0)
    else:
        ctx.err("grep: no pattern\n")
        return 2
    try:
        expr = re.escape(pattern) if "F" in flags else _bre(pattern) if "E" not in flags else pattern
        if "w" in flags:
            expr = r"\b(?:" + expr + r")\b"
        regex = re.compile(expr, re.I if "i" in flags else 0)
    except re.error as e:
        ctx.err(f"grep: bad regex '{pattern}': {e}\n")
        return 2
    limit = int(values["m"]) if "m" in values else None
    count, status = 0, 1
    sources = [(op, None) for op in operands] or [("-", ctx.stdin)]
    show_name = len(sources) > 1 and "h" not in flags or "H" in flags
    for name, stream in sources:
        if stream is None:
            try:
                data = ctx.device.fs.read_bytes(ctx.path(name), who="shell")
            except OSError as e:
                if "s" not in flags:
                    errmsg(ctx, name, e)
                status = 2
                continue
            lines = data.splitlines(keepends=True)
        else:
            lines = stream.lines()
        n = 0
        for raw in lines:
            n += 1
            line = raw.decode("utf-8", "surrogateescape").rstrip("\n")
            if bool(regex.search(line)) == ("v" in flags):
                continue
            count += 1
            status = 0 if status != 2 else 2
            if "q" in flags:
                return 0
            if "l" in flags:
                ctx.out(name + "\n")
                break
            if "c" not in flags:
                prefix = (f"{name}:" if show_name else "") + (f"{n}:" if "n" in flags else "")
                ctx.out(prefix + (regex.search(line).group(0) if "o" in flags else line) + "\n")
            if limit is not None and count >= limit:
                break
    if "c" in flags:
        ctx.out(f"{count}\n")
    return 0 if count else status


def _bre(pattern: str) -> str:
    """A POSIX basic regular expression as Python's: \\( \\) \\{ \\} \\| \\+ \\? are the operators."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            out.append(n if n in "(){}|+?" else "\\" + n)
            i += 2
            continue
        out.append("\\" + c if c in "(){}|+?" else c)
        i += 1
    return "".join(out)


def _count_shorthand(ctx: Ctx) -> None:
    """``head -3`` / ``tail -1``: the obsolete count form toybox still takes."""
    out = []
    for a in ctx.argv:
        out += ["-n", a[1:]] if re.fullmatch(r"-\d+", a) else ["-n", a] if re.fullmatch(r"\+\d+", a) else [a]
    ctx.argv = out


def cmd_head(ctx: Ctx) -> int:
    _count_shorthand(ctx)
    parsed = split_flags(ctx, "qv", with_value="nc")
    if parsed is None:
        return 1
    _, values, operands = parsed
    n = int(values.get("n", "10"))
    status = 0
    for name in operands or ["-"]:
        lines = ctx.stdin.lines() if name == "-" else file_lines(ctx, name)
        if lines is None:
            status = 1
            continue
        for k, line in enumerate(lines):
            if k >= n:
                break
            ctx.out(line)
    ctx.stdin.close()          # as head exits: a writer into this pipe gets SIGPIPE
    return status


def cmd_tail(ctx: Ctx) -> int:
    _count_shorthand(ctx)
    parsed = split_flags(ctx, "fqv", with_value="nc")
    if parsed is None:
        return 1
    _, values, operands = parsed
    spec = values.get("n", "10")
    status = 0
    for name in operands or ["-"]:
        lines = list(ctx.stdin.lines()) if name == "-" else file_lines(ctx, name)
        if lines is None:
            status = 1
            continue
        if spec.startswith("+"):
            chosen = lines[int(spec[1:]) - 1:]
        else:
            k = int(spec.lstrip("-"))
            chosen = lines[-k:] if k else []
        for line in chosen:
            ctx.out(line)
    return status


def cmd_wc(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "lwcm")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    flags = flags or {"l", "w", "c"}
    status = 0
    for name in operands or ["-"]:
        if name == "-":
            data = ctx.stdin.read()
        else:
            try:
                data = ctx.device.fs.read_bytes(ctx.path(name), who="shell")
            except OSError as e:
                errmsg(ctx, name, e)
                status = 1
                continue
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data), "m": len(data.decode("utf-8", "replace"))}
        cols = [str(counts[k]) for k in "lwcm" if k in flags]
        if len(cols) > 1:
            cols = [f"{c:>7}" for c in cols]
        ctx.out(" ".join(cols) + ("" if name == "-" else " " + name) + "\n")
    return status


def cmd_printf(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        ctx.err("printf: Needs 1 argument\n")
        return 1
    fmt, args = ctx.argv[1], list(ctx.argv[2:])
    out = []
    while True:
        text, i = [], 0
        while i < len(fmt):
            c = fmt[i]
            if c == "%" and i + 1 < len(fmt):
                m = re.match(r"%([-+ 0#]*\d*(?:\.\d+)?)([diouxXsceEfgGb%])", fmt[i:])
                if not m:
                    text.append(c)
                    i += 1
                    continue
                spec, conv = m.groups()
                i += m.end()
                if conv == "%":
                    text.append("%")
                    continue
                arg = args.pop(0) if args else ""
                if conv in "diouxXc":
                    try:
                        val = int(arg, 0) if arg else 0
                    except ValueError:
                        ctx.err(f"printf: invalid number '{arg}'\n")
                        val = 0
                    text.append(("%" + spec + conv) % (val if conv != "c" else chr(val)) if conv != "c"
                                else (arg[:1] if arg else ""))
                elif conv in "eEfgG":
                    text.append(("%" + spec + conv) % float(arg or 0))
                elif conv == "b":
                    text.append(_escapes(arg)[0])
                else:
                    text.append(("%" + spec + "s") % arg)
                continue
            if c == "\\":
                esc, _ = _escapes(fmt[i:i + 2] if fmt[i + 1:i + 2] != "0" else fmt[i:i + 5])
                text.append(esc)
                i += 2 if fmt[i + 1:i + 2] != "0" else 2 + len(re.match(r"[0-7]{0,3}", fmt[i + 2:]).group(0))
                continue
            text.append(c)
            i += 1
        out.append("".join(text))
        if not args or "%" not in fmt:
            break
    ctx.out("".join(out))
    return 0


def cmd_tr(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    delete = args[:1] == ["-d"]
    if delete:
        args = args[1:]

    def expand(s: str) -> str:
        s = s.replace("[:upper:]", "A-Z").replace("[:lower:]", "a-z").replace("[:digit:]", "0-9")
        s = _escapes(s)[0]
        return re.sub(r"(.)-(.)", lambda m: "".join(chr(c) for c in range(ord(m.group(1)), ord(m.group(2)) + 1)), s)

    if not args or (not delete and len(args) < 2):
        ctx.err("tr: Needs 2 arguments\n")
        return 1
    src = expand(args[0])
    table = {ord(c): None for c in src} if delete else {ord(c): (expand(args[1]) or " ")[min(k, len(expand(args[1])) - 1)]
                                                        for k, c in enumerate(src)}
    for line in ctx.stdin.lines():
        ctx.out(line.decode("utf-8", "surrogateescape").translate(table).encode("utf-8", "surrogateescape"))
    return 0


def cmd_cut(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "s", with_value="dfc")
    if parsed is None:
        return 1
    _, values, operands = parsed
    delim = values.get("d", "\t")
    spec = values.get("f") or values.get("c")
    if not spec:
        ctx.err("cut: Needs -fc\n")
        return 1
    picks: list[tuple[int, int]] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        lo = int(a) if a else 1
        hi = int(b) if b else (lo if "-" not in part else 10**9)
        picks.append((lo, hi))
    lines = ctx.stdin.lines() if not operands else (file_lines(ctx, operands[0]) or [])
    for raw in lines:
        line = raw.decode("utf-8", "surrogateescape").rstrip("\n")
        items = line.split(delim) if "f" in values else list(line)
        if "f" in values and delim not in line:
            ctx.out(line + "\n")
            continue
        chosen = [x for k, x in enumerate(items, 1) if any(lo <= k <= hi for lo, hi in picks)]
        ctx.out((delim if "f" in values else "").join(chosen) + "\n")
    return 0


def cmd_sort(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "rnu")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    lines = [ln.decode("utf-8", "surrogateescape").rstrip("\n") for ln in
             (ctx.stdin.lines() if not operands else (file_lines(ctx, operands[0]) or []))]

    def key(s: str):
        if "n" in flags:
            m = re.match(r"\s*(-?\d+(?:\.\d+)?)", s)
            return (float(m.group(1)) if m else 0.0, s)
        return s

    lines.sort(key=key, reverse="r" in flags)
    if "u" in flags:
        lines = list(dict.fromkeys(lines))
    for line in lines:
        ctx.out(line + "\n")
    return 0


def cmd_tee(ctx: Ctx) -> int:
    append = "-a" in ctx.argv
    sinks, status = [], 0
    for name in [a for a in ctx.argv[1:] if a != "-a"]:
        try:
            sinks.append(FileSink(ctx.device, ctx.path(name), append))
        except OSError as e:
            errmsg(ctx, name, e)
            status = 1
    try:
        while chunk := ctx.stdin.read_chunk():
            ctx.out(chunk)
            for s in sinks:
                s(chunk)
    finally:
        for s in sinks:
            s.close()
    return status


def cmd_seq(ctx: Ctx) -> int:
    try:
        nums = [int(a) for a in ctx.argv[1:]]
    except ValueError:
        ctx.err("seq: invalid number\n")
        return 1
    first, step, last = (1, 1, nums[0]) if len(nums) == 1 else (nums[0], 1, nums[1]) if len(nums) == 2 else tuple(nums[:3])
    k = first
    while (step > 0 and k <= last) or (step < 0 and k >= last):
        ctx.out(f"{k}\n")
        k += step
    return 0


COMMANDS = {"echo": cmd_echo, "printf": cmd_printf, "grep": cmd_grep, "head": cmd_head, "tail": cmd_tail, "wc": cmd_wc,
            "tr": cmd_tr, "cut": cmd_cut, "sort": cmd_sort, "tee": cmd_tee, "seq": cmd_seq}
