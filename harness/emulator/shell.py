"""The emulated ``/system/bin/sh``: a slice of the sh grammar, interpreted in Python.

Never the host's shell: user text is parsed here and dispatched to Python functions
(``commands.py``, ``android_cmds.py``); nothing is ever handed to a host process.

Supported: words with POSIX quoting (single quotes, double quotes, backslash),
``$?``/``$VAR``/``${VAR}``, ``;``, newline, ``&&``, ``||``, ``|`` (sequential),
redirections ``> >> < 2> 2>> 2>&1 >&2 &>`` (``/dev/null`` included), ``#`` comments,
``*``/``?`` globs on the device file system, ``export NAME=value`` and ``exec CMD`` (so
``adb logcat``'s ``export ANDROID_LOG_TAGS=...; exec logcat`` works). Command substitution (``$(...)``,
backticks), subshells and background jobs are refused as syntax errors before anything
runs.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import io
import os
import posixpath
from typing import Callable

SH = "/system/bin/sh"
EXIT_NOT_FOUND = 127
EXIT_SYNTAX = 1
_GLOB_CHARS = "*?["
_ENV = {"HOME": "/", "PATH": "/product/bin:/apex/com.android.runtime/bin:/system/bin:/system/xbin:/vendor/bin",
        "EXTERNAL_STORAGE": "/sdcard", "TMPDIR": "/data/local/tmp", "ANDROID_DATA": "/data",
        "ANDROID_ROOT": "/system", "SHELL": SH, "USER": "shell", "LOGNAME": "shell"}


class ShellSyntaxError(Exception):
    pass


class ShellExit(Exception):
    def __init__(self, status: int):
        self.status = status


# -- tokens ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Word:
    # parts: (kind, text, quoted) with kind "lit" or "var"
    parts: list


@dataclasses.dataclass
class Op:
    text: str


@dataclasses.dataclass
class Redir:
    fd: int
    op: str                   # ">", ">>", "<", ">&", "<&"
    dup: int | None = None    # for ">&N"
    target: Word | None = None


def tokenize(text: str) -> list:
    tokens: list = []
    cur: list | None = None
    i, n = 0, len(text)

    def end_word():
        nonlocal cur
        if cur is not None:
            tokens.append(Word(cur))
            cur = None

    def add(kind, s, quoted):
        nonlocal cur
        if cur is None:
            cur = []
        cur.append((kind, s, quoted))

    def read_var(j: int, quoted: bool) -> int:
        """Parse after a '$' at j-1; returns the new index."""
        if j < n and text[j] == "(":
            raise ShellSyntaxError("command substitution $(...) is not supported")
        if j < n and text[j] == "{":
            close = text.find("}", j)
            if close < 0:
                raise ShellSyntaxError("missing '}'")
            add("var", text[j + 1:close], quoted)
            return close + 1
        if j < n and (text[j] in "?$#!" or text[j].isdigit()):
            add("var", text[j], quoted)
            return j + 1
        k = j
        while k < n and (text[k].isalnum() or text[k] == "_"):
            k += 1
        if k == j:
            add("lit", "$", quoted)
            return j
        add("var", text[j:k], quoted)
        return k

    while i < n:
        c = text[i]
        if c in " \t":
            end_word()
            i += 1
        elif c == "\n":
            end_word()
            tokens.append(Op(";"))
            i += 1
        elif c == "#" and cur is None:
            while i < n and text[i] != "\n":
                i += 1
        elif c == ";":
            end_word()
            if text.startswith(";;", i):
                raise ShellSyntaxError("unexpected ';;'")
            tokens.append(Op(";"))
            i += 1
        elif c == "&":
            end_word()
            if text.startswith("&&", i):
                tokens.append(Op("&&"))
                i += 2
            elif text.startswith("&>", i):
                tokens.append(Redir(1, ">"))
                tokens.append(Redir(2, ">&", dup=1))
                i += 2
            else:
                raise ShellSyntaxError("background jobs ('&') are not supported")
        elif c == "|":
            end_word()
            if text.startswith("||", i):
                tokens.append(Op("||"))
                i += 2
            else:
                tokens.append(Op("|"))
                i += 1
        elif c in "<>":
            fd = None
            if cur is not None and len(cur) == 1 and cur[0][0] == "lit" and not cur[0][2] and cur[0][1].isdigit():
                fd = int(cur[0][1])
                cur = None
            else:
                end_word()
            if text.startswith(">>", i):
                op, i = ">>", i + 2
            elif text.startswith(">&", i) or text.startswith("<&", i):
                op, i = c + "&", i + 2
            elif text.startswith(">|", i):
                op, i = ">", i + 2
            else:
                op, i = c, i + 1
            if fd is None:
                fd = 0 if c == "<" else 1
            if op.endswith("&"):
                j = i
                while j < n and text[j].isdigit():
                    j += 1
                if j == i:
                    raise ShellSyntaxError(f"bad fd after '{op}'")
                tokens.append(Redir(fd, op, dup=int(text[i:j])))
                i = j
            else:
                tokens.append(Redir(fd, op))
        elif c in "()":
            raise ShellSyntaxError(f"unexpected '{c}' (subshells are not supported)")
        elif c == "`":
            raise ShellSyntaxError("command substitution `...` is not supported")
        elif c == "'":
            close = text.find("'", i + 1)
            if close < 0:
                raise ShellSyntaxError("unterminated quoted string")
            add("lit", text[i + 1:close], True)
            i = close + 1
        elif c == '"':
            i += 1
            buf = []
            if cur is None:
                cur = []
            while True:
                if i >= n:
                    raise ShellSyntaxError("unterminated quoted string")
                d = text[i]
                if d == '"':
                    i += 1
                    break
                if d == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
                    if text[i + 1] != "\n":
                        buf.append(text[i + 1])
                    i += 2
                elif d == "`":
                    raise ShellSyntaxError("command substitution `...` is not supported")
                elif d == "$":
                    if buf:
                        add("lit", "".join(buf), True)
                        buf = []
                    i = read_var(i + 1, True)
                else:
                    buf.append(d)
                    i += 1
            add("lit", "".join(buf), True)
        elif c == "\\":
            if i + 1 < n:
                if text[i + 1] != "\n":
                    add("lit", text[i + 1], True)
                i += 2
            else:
                i += 1
        elif c == "$":
            i = read_var(i + 1, False)
        else:
            j = i
            while j < n and text[j] not in " \t\n;&|<>()`'\"\\$":
                j += 1
            add("lit", text[i:j], False)
            i = j
    end_word()
    return tokens


@dataclasses.dataclass
class SimpleCommand:
    words: list
    redirs: list


def parse(tokens: list) -> list[tuple[str, list[SimpleCommand]]]:
    """[(connector, pipeline)], connector of the first being ';'."""
    out: list = []
    connector = ";"
    pipeline: list[SimpleCommand] = []
    cmd = SimpleCommand([], [])
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if isinstance(t, Word):
            cmd.words.append(t)
        elif isinstance(t, Redir):
            if t.dup is None:
                if i + 1 >= len(tokens) or not isinstance(tokens[i + 1], Word):
                    raise ShellSyntaxError("redirection without a target")
                t.target = tokens[i + 1]
                i += 1
            cmd.redirs.append(t)
        elif isinstance(t, Op):
            if not cmd.words and not cmd.redirs:
                if t.text == ";" and not pipeline and connector == ";":
                    i += 1
                    continue  # empty statement (blank line, ';;' aside)
                raise ShellSyntaxError(f"unexpected '{t.text}'")
            pipeline.append(cmd)
            cmd = SimpleCommand([], [])
            if t.text != "|":
                out.append((connector, pipeline))
                pipeline = []
                connector = t.text
        i += 1
    if cmd.words or cmd.redirs:
        pipeline.append(cmd)
        out.append((connector, pipeline))
    elif pipeline or connector in ("&&", "||"):
        raise ShellSyntaxError("unexpected end of file")
    return out


# -- I/O --------------------------------------------------------------------------------------
class Stdin:
    """Where a command reads its standard input from: bytes or a callable source."""

    def __init__(self, data: bytes | None = None, source: Callable[[], bytes] | None = None):
        self._data = data
        self._source = source

    def read(self) -> bytes:
        if self._data is None:
            parts = []
            while self._source is not None:
                chunk = self._source()
                if not chunk:
                    break
                parts.append(chunk)
            self._data = b"".join(parts)
        return self._data

    def read_exact(self, n: int) -> bytes:
        """Up to ``n`` bytes (used by ``cmd package install -S``)."""
        buf = bytearray()
        if self._data is not None:
            buf += self._data[:n]
            self._data = self._data[n:]
        while len(buf) < n and self._source is not None:
            chunk = self._source()
            if not chunk:
                break
            buf += chunk
        if len(buf) > n:
            self._data = bytes(buf[n:]) + (self._data or b"")
            del buf[n:]
        return bytes(buf)


class FileSink:
    def __init__(self, device, path: str, append: bool):
        device.fs.check_writable(path)
        host = device.fs.host(path)
        if host.is_dir():
            raise IsADirectoryError(21, "Is a directory", path)
        self.device = device
        self.budget = device.free_bytes() + (host.stat().st_size if host.is_file() and not append else 0)
        self.f = open(host, "ab" if append else "wb")
        self.error = None

    def __call__(self, data: bytes) -> None:
        if self.error:
            return
        if len(data) > self.budget:
            self.error = "No space left on device"
            return
        self.budget -= len(data)
        self.f.write(data)

    def close(self):
        self.f.close()


def _null(_data: bytes) -> None:
    pass


@dataclasses.dataclass
class Ctx:
    """What a command sees: its argv, its output sinks, its stdin, the device."""

    device: object
    argv: list[str]
    out_sink: Callable[[bytes], None]
    err_sink: Callable[[bytes], None]
    stdin: Stdin
    cwd: str = "/"
    conn_stream: object = None
    env: dict = dataclasses.field(default_factory=dict)   # the shell's variables (export)

    def out(self, text: str | bytes) -> None:
        self.out_sink(text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8", "surrogateescape"))

    def err(self, text: str | bytes) -> None:
        self.err_sink(text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8", "surrogateescape"))

    def path(self, p: str) -> str:
        return self.device.fs.normalize(p, self.cwd)


# -- interpreter ------------------------------------------------------------------------------
class Shell:
    """Runs one command line on ``device``, writing to ``stdout``/``stderr`` callables."""

    def __init__(self, device, stdout: Callable[[bytes], None], stderr: Callable[[bytes], None],
                 stdin: Stdin | None = None, stream=None):
        self.device = device
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin or Stdin(b"")
        self.status = 0
        self.stream = stream
        self.env = dict(_ENV)

    def run(self, script: str) -> int:
        """Run ``script``; returns the exit status. Never raises for user mistakes."""
        try:
            program = parse(tokenize(script))
        except ShellSyntaxError as e:
            self.stderr(f"{SH}: syntax error: {e}\n".encode())
            return EXIT_SYNTAX
        try:
            for connector, pipeline in program:
                if connector == "&&" and self.status != 0:
                    continue
                if connector == "||" and self.status == 0:
                    continue
                self.status = self._pipeline(pipeline)
        except ShellExit as e:
            self.status = e.status
        return self.status & 0xFF

    def _pipeline(self, pipeline: list[SimpleCommand]) -> int:
        stdin = self.stdin
        status = 0
        for k, cmd in enumerate(pipeline):
            last = k == len(pipeline) - 1
            if last:
                status = self._simple(cmd, stdin, self.stdout)
            else:
                buf = io.BytesIO()
                status = self._simple(cmd, stdin, buf.write)
                stdin = Stdin(buf.getvalue())
        return status

    def _expand(self, word: Word) -> list[str]:
        text = []
        globbable = False
        for kind, s, quoted in word.parts:
            if kind == "var":
                text.append(self._var(s))
            else:
                text.append(s)
                if not quoted and any(ch in s for ch in _GLOB_CHARS):
                    globbable = True
        joined = "".join(text)
        if globbable:
            matches = self._glob(joined)
            if matches:
                return matches
        return [joined]

    def _var(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "$":
            return "4242"
        if name == "#":
            return "0"
        if name == "0":
            return SH
        return self.env.get(name, "")

    def _glob(self, pattern: str) -> list[str]:
        fs = self.device.fs
        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        candidates = ["/" if absolute else ""]
        for part in parts:
            nxt = []
            for base in candidates:
                if any(ch in part for ch in _GLOB_CHARS):
                    try:
                        names = sorted(os.listdir(fs.host(base or "/")))
                    except OSError:
                        continue
                    nxt += [posixpath.join(base, nm) if base else nm
                            for nm in names if fnmatch.fnmatchcase(nm, part) and not nm.startswith(".")]
                else:
                    nxt.append(posixpath.join(base, part) if base else part)
            candidates = nxt
        return [c for c in candidates if fs.host(c).exists() or fs.is_virtual(c)]

    def _simple(self, cmd: SimpleCommand, stdin: Stdin, stdout) -> int:
        from harness.emulator.commands import COMMANDS

        argv: list[str] = []
        for w in cmd.words:
            argv += self._expand(w)
        sinks = {1: stdout, 2: self.stderr}
        opened: list[FileSink] = []
        try:
            for r in cmd.redirs:
                if r.dup is not None:
                    if r.dup not in sinks:
                        self.stderr(f"{SH}: {r.dup}: bad file descriptor\n".encode())
                        return 1
                    sinks[r.fd] = sinks[r.dup]
                    continue
                target = "".join(self._expand(r.target))
                if r.op == "<":
                    if self.device.fs.is_virtual(target):
                        stdin = Stdin(self.device.meminfo().encode())
                        continue
                    try:
                        stdin = Stdin(self.device.fs.host(target).read_bytes())
                    except OSError as e:
                        self.stderr(f"{SH}: can't open {target}: {e.strerror}\n".encode())
                        return 1
                    continue
                if self.device.fs.normalize(target) == "/dev/null":
                    sinks[r.fd] = _null
                    continue
                try:
                    sink = FileSink(self.device, target, append=r.op == ">>")
                except OSError as e:
                    self.stderr(f"{SH}: can't create {target}: {e.strerror}\n".encode())
                    return 1
                opened.append(sink)
                sinks[r.fd] = sink
            if argv[:1] == ["exec"]:
                argv = argv[1:]      # `exec CMD`: no process to replace here; just run CMD
            if not argv:
                return 0
            name = argv[0]
            func = COMMANDS.get(name) or COMMANDS.get(posixpath.basename(name)) if "/" in name else COMMANDS.get(name)
            if func is None:
                sinks[2](f"{SH}: {name}: inaccessible or not found\n".encode("utf-8", "surrogateescape"))
                return EXIT_NOT_FOUND
            ctx = Ctx(self.device, argv, sinks.get(1, _null), sinks.get(2, _null), stdin,
                      conn_stream=self.stream, env=self.env)
            status = func(ctx)
            for sink in opened:
                if sink.error:
                    self.stderr(f"{name}: write error: {sink.error}\n".encode())
                    status = 1
            return status
        finally:
            for sink in opened:
                sink.close()
