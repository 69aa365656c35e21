"""The emulated ``/system/bin/sh``: runs the AST of parser.py over the emulated phone.

Never the host's shell: user text is parsed by parser.py, expanded by expand.py and
executed here by dispatching to Python functions (builtins.py, harness.emulator.cmds and
harness.emulator.android) over the device's own file system. Nothing is ever handed to a
host process.

Follows mksh as Android 14 ships it: pipeline stages run at once (one thread each, joined
by streams.Pipe), the last stage runs in the current shell (``echo x | read v`` sets v), every
other stage and ``( ... )`` in a copy of it; ``cd`` changes this shell's directory only;
an unknown command is ``/system/bin/sh: X: inaccessible or not found`` (127); a slash path
runs only if that file exists on the device; a syntax error runs nothing (exit 1).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Callable

from harness.emulator.sh import parser, syntax
from harness.emulator.sh.expand import ExpansionError, Expander, pattern_match
from harness.emulator.sh.redirect import RedirError, redirect
from harness.emulator.sh.streams import IO, SH, Capture, Ctx, InStream, Pipe, PipeClosed, Stdin

log = logging.getLogger(__name__)

EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXEC = 126
EXIT_SYNTAX = 1
EXIT_INTERNAL = 255
SIGPIPE_STATUS = 141
_ENV = {"HOME": "/", "PATH": "/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:"
                             "/system_ext/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin",
        "EXTERNAL_STORAGE": "/sdcard", "TMPDIR": "/data/local/tmp", "ANDROID_DATA": "/data",
        "ANDROID_ROOT": "/system", "SHELL": SH, "USER": "shell", "LOGNAME": "shell", "HOSTNAME": "localhost",
        "IFS": " \t\n", "PS1": "$ ", "TERM": "dumb"}
# Directories where the phone's own commands live: "/system/bin/getprop" exists.
SYSTEM_BIN_DIRS = ("/system/bin", "/system/xbin", "/vendor/bin", "/product/bin", "/apex/com.android.runtime/bin")

ShellSyntaxError = syntax.ShellSyntaxError


class ShellExit(Exception):
    def __init__(self, status: int):
        self.status = status


class Jump(Exception):
    """``break``, ``continue`` or ``return``: unwinds to the loop or function that takes it."""

    def __init__(self, kind: str, n: int):
        self.kind, self.n = kind, n


class Shell:
    """One ``sh`` process: variables, cwd, functions; ``run(script)`` returns the exit status."""

    def __init__(self, device, stdout: Callable[[bytes], None], stderr: Callable[[bytes], None],
                 stdin: InStream | None = None, stream=None, parent: "Shell | None" = None):
        self.device = device
        self.stream = stream
        self.io = IO(stdin or Stdin(b""), stdout, stderr)
        self.status = 0
        self.vars: dict[str, str] = dict(parent.vars) if parent else dict(_ENV)
        self.exported: set[str] = set(parent.exported) if parent else set(_ENV)
        self.funcs: dict = dict(parent.funcs) if parent else {}
        self.cwd = parent.cwd if parent else "/"
        self.args: list[str] = list(parent.args) if parent else []
        self.arg0 = parent.arg0 if parent else SH
        self.options: set[str] = set(parent.options) if parent else set()
        self.pid = device.alloc_pid("sh") if hasattr(device, "alloc_pid") else 4242
        self.last_bg_pid = 0
        self.background: list[threading.Thread] = []
        self.expander = Expander(self)
        self.in_condition = 0

    # -- entry points ------------------------------------------------------------------------
    def run(self, script: str) -> int:
        """Run ``script``; returns the exit status. Never raises for user mistakes.

        As mksh reads a script: one complete command (it may span lines) is parsed, then run,
        then the next; a syntax error stops there (exit 1) after the earlier lines ran."""
        try:
            pending = ""
            for line in script.split("\n"):
                pending += line + "\n"
                try:
                    program = parser.parse(pending)
                except ShellSyntaxError as e:
                    if _incomplete(e):
                        continue
                    self.io.err(f"{SH}: {e}\n".encode())
                    self.status = EXIT_SYNTAX
                    return EXIT_SYNTAX
                pending = ""
                self.exec_list(program, self.io)
            if pending.strip():
                try:
                    parser.parse(pending)
                except ShellSyntaxError as e:
                    self.io.err(f"{SH}: {e}\n".encode())
                    self.status = EXIT_SYNTAX
                    return EXIT_SYNTAX
        except ShellExit as e:
            self.status = e.status
        except Jump as j:
            self.status = j.n if j.kind == "return" else self.status
        finally:
            for t in self.background:
                t.join()
            if hasattr(self.device, "free_pid"):
                self.device.free_pid(self.pid)
        return self.status & 0xFF

    def cancelled(self) -> bool:
        return self.stream is not None and self.stream.peer_gone

    def child(self) -> "Shell":
        return Shell(self.device, self.io.out, self.io.err, self.io.stdin, self.stream, parent=self)

    def command_output(self, program) -> str:
        """``$(...)``: run in a subshell, capture stdout; sets $? to its status."""
        cap = Capture()
        sub = self.child()
        try:
            sub.exec_list(program, IO(self.io.stdin, cap, self.io.err))
        except ShellExit as e:
            sub.status = e.status
        self.status = sub.status & 0xFF
        return cap.text()

    # -- lists and pipelines -----------------------------------------------------------------
    def exec_list(self, lst, io: IO) -> int:
        for item in lst.items:
            if item.background:
                self._background(item, io)
            else:
                self.exec_andor(item, io)
        return self.status

    def _background(self, item, io: IO) -> None:
        sub = self.child()
        self.last_bg_pid = sub.pid

        def target():
            try:
                sub.exec_andor(dataclasses.replace(item, background=False), IO(Stdin(b""), io.out, io.err))
            except (ShellExit, Jump, PipeClosed):
                pass
            except Exception:   # the host went away, or a bug: a background job never kills the shell
                log.debug("background job ended", exc_info=True)

        t = threading.Thread(target=target, name=f"sh-bg-{sub.pid}", daemon=True)
        t.start()
        self.background.append(t)
        self.status = 0

    def exec_andor(self, node, io: IO) -> int:
        conditional = bool(node.rest)
        if conditional:
            self.in_condition += 1
        try:
            self.exec_pipeline(node.first, io)
            for k, (op, pipe) in enumerate(node.rest):
                if k == len(node.rest) - 1:
                    self.in_condition -= 1
                    conditional = False
                if (op == "&&") == (self.status == 0):
                    self.exec_pipeline(pipe, io)
        finally:
            if conditional:
                self.in_condition -= 1
        return self.status

    def exec_pipeline(self, node, io: IO) -> int:
        if node.negate:
            self.in_condition += 1
        try:
            if len(node.cmds) == 1:
                self.exec_command(node.cmds[0], io)
            else:
                self._run_stages(node.cmds, io)
        finally:
            if node.negate:
                self.in_condition -= 1
        if node.negate:
            self.status = 0 if self.status else 1
        elif self.status and "e" in self.options and not self.in_condition:
            raise ShellExit(self.status)
        return self.status

    def _run_stages(self, cmds: list, io: IO) -> None:
        pipes = [Pipe(self.cancelled) for _ in cmds[:-1]]
        threads = []
        errors: list[BaseException] = []
        for k, cmd in enumerate(cmds[:-1]):
            stdin = io.stdin if k == 0 else pipes[k - 1]
            sub = self.child()
            stage_io = IO(stdin, pipes[k], io.err)

            def target(sub=sub, cmd=cmd, stage_io=stage_io, k=k):
                try:
                    sub.exec_command(cmd, stage_io)
                except (PipeClosed, ShellExit, Jump):
                    pass
                except BaseException as e:   # noqa: BLE001  host gone: let the last stage see it
                    errors.append(e)
                finally:
                    pipes[k].close_writer()
                    if k:
                        pipes[k - 1].close()

            t = threading.Thread(target=target, name="sh-stage", daemon=True)
            t.start()
            threads.append(t)
        try:
            self.exec_command(cmds[-1], IO(pipes[-1], io.out, io.err))
        finally:
            pipes[-1].close()
            for t in threads:
                t.join()
        if errors:          # the host went away while a stage wrote
            raise errors[0]

    # -- commands ------------------------------------------------------------------------------
    def exec_command(self, node, io: IO) -> int:
        if isinstance(node, syntax.Simple):
            return self.exec_simple(node, io)
        if isinstance(node, syntax.FuncDef):
            self.funcs[node.name] = node.body
            self.status = 0
            return 0
        redirected = self._redirect_or_report(node.redirs, io)
        if redirected is None:
            return 1
        io, opened = redirected
        try:
            if isinstance(node, syntax.Group):
                if node.subshell:
                    sub = self.child()
                    try:
                        sub.exec_list(node.body, io)
                    except ShellExit as e:
                        sub.status = e.status
                    self.status = sub.status & 0xFF
                else:
                    self.exec_list(node.body, io)
            elif isinstance(node, syntax.If):
                self._exec_if(node, io)
            elif isinstance(node, syntax.Loop):
                self._exec_loop(node, io)
            elif isinstance(node, syntax.For):
                self._exec_for(node, io)
            elif isinstance(node, syntax.Case):
                self._exec_case(node, io)
        finally:
            for sink in opened:
                sink.close()
        return self.status

    def _cond(self, lst, io: IO) -> bool:
        self.in_condition += 1
        try:
            self.exec_list(lst, io)
        finally:
            self.in_condition -= 1
        return self.status == 0

    def _exec_if(self, node, io: IO) -> None:
        for cond, body in node.clauses:
            if self._cond(cond, io):
                self.exec_list(body, io)
                return
        if node.else_body is not None:
            self.exec_list(node.else_body, io)
        else:
            self.status = 0

    def _loop_body(self, body, io: IO) -> str | None:
        try:
            self.exec_list(body, io)
        except Jump as j:
            if j.kind == "return":
                raise
            if j.n > 1:
                raise Jump(j.kind, j.n - 1)
            return j.kind
        return None

    def _exec_loop(self, node, io: IO) -> None:
        status = 0
        while not self.cancelled():
            if self._cond(node.cond, io) == node.until:
                break
            jump = self._loop_body(node.body, io)
            status = self.status
            if jump == "break":
                break
        self.status = status

    def _exec_for(self, node, io: IO) -> None:
        words = list(self.args) if node.words is None else [f for w in node.words for f in self.fields(w, io)]
        self.status = 0
        for value in words:
            if self.cancelled():
                break
            self.vars[node.var] = value
            if self._loop_body(node.body, io) == "break":
                break

    def _exec_case(self, node, io: IO) -> None:
        subject = self.expander.word_text(node.word)
        self.status = 0
        for patterns, body in node.items:
            if any(pattern_match(self.expander.pattern(p), subject) for p in patterns):
                self.exec_list(body, io)
                return

    def fields(self, word, io: IO) -> list[str]:
        return self.expander.fields(word)

    def exec_simple(self, node, io: IO) -> int:
        from harness.emulator.sh import builtins

        try:
            argv = [f for w in node.words for f in self.expander.fields(w)]
            assigns = [(name, self.expander.word_text(w)) for name, w in node.assigns]
        except ExpansionError as e:
            io.err(f"{SH}: {e}\n".encode("utf-8", "surrogateescape"))
            self.status = 1
            if not self.in_condition:
                raise ShellExit(1) from None
            return 1
        cmdsub_status = self.status if any(p[0] == "cmdsub" for w in node.words + [w for _, w in node.assigns]
                                            for p in w.parts) else 0
        if argv[:1] == ["exec"]:
            argv = argv[1:]
            if not argv:       # `exec 2>&1`: the redirections apply to the shell itself
                redirected = self._redirect_or_report(node.redirs, self.io, io)
                if redirected is None:
                    return 1
                self.io = redirected[0]
                self.status = 0
                return 0
        if not argv:
            for name, value in assigns:
                self.vars[name] = value
            redirected = self._redirect_or_report(node.redirs, io)
            if redirected is None:
                return 1
            for sink in redirected[1]:
                sink.close()
            self.status = cmdsub_status
            return self.status
        redirected = self._redirect_or_report(node.redirs, io)
        if redirected is None:
            return 1
        cio, opened = redirected
        try:
            self.status = builtins.dispatch(self, argv, assigns, cio) & 0xFF
            for sink in opened:
                if getattr(sink, "error", None):
                    cio.err(f"{argv[0]}: write error: {sink.error}\n".encode())
                    self.status = 1
        finally:
            for sink in opened:
                sink.close()
        return self.status

    # -- redirections -------------------------------------------------------------------------
    def redirect(self, redirs: list, io: IO) -> tuple[IO, list]:
        """``io`` with ``redirs`` applied, and the file sinks opened for them; raises RedirError."""
        return redirect(self, redirs, io)

    def _redirect_or_report(self, redirs: list, io: IO, err_io: IO | None = None) -> tuple[IO, list] | None:
        """``redirect``, or None after the error went to (``err_io`` or ``io``)'s stderr and $? became 1."""
        try:
            return self.redirect(redirs, io)
        except RedirError as e:
            (err_io or io).err(e.message.encode("utf-8", "surrogateescape"))
            self.status = 1
            return None

    def ctx(self, argv: list[str], io: IO, env: dict | None = None) -> Ctx:
        return Ctx(self.device, argv, io.out, io.err, io.stdin, cwd=self.cwd, conn_stream=self.stream,
                   env=env if env is not None else self.vars, shell=self)


def _incomplete(e: ShellSyntaxError) -> bool:
    """The text so far ends inside a command: read the next line before judging."""
    msg = str(e)
    return msg.endswith("unexpected EOF") or "unmatched" in msg or "unterminated" in msg
