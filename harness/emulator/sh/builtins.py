"""Builtins of the emulated shell and how a command name is found (functions, builtins,
the phone's commands, or a file on the device).

Any exception a command raises by mistake (an emulator bug) becomes an error message on
stderr and exit status 255, so the host always gets the shell-v2 exit packet.
"""
from __future__ import annotations

import logging
import re
import stat as stat_mod

from harness.emulator.sh import parser
from harness.emulator.sh.shell import (EXIT_CANNOT_EXEC, EXIT_INTERNAL, EXIT_NOT_FOUND, SYSTEM_BIN_DIRS, Jump, Shell,
                                       ShellExit, ShellSyntaxError)
from harness.emulator.sh.streams import IO, SH, PipeClosed

log = logging.getLogger(__name__)
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")


def _num(sh: Shell, io: IO, name: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        io.err(f"{SH}: {name}: {text}: bad number\n".encode())
        raise ShellExit(2) from None


def b_colon(sh, argv, io):
    return 0


def b_exit(sh, argv, io):
    raise ShellExit(_num(sh, io, "exit", argv[1] if len(argv) > 1 else None, sh.status))


def b_return(sh, argv, io):
    raise Jump("return", _num(sh, io, "return", argv[1] if len(argv) > 1 else None, sh.status) & 0xFF)


def b_break(sh, argv, io):
    raise Jump("break", max(1, _num(sh, io, argv[0], argv[1] if len(argv) > 1 else None, 1)))


def b_continue(sh, argv, io):
    raise Jump("continue", max(1, _num(sh, io, argv[0], argv[1] if len(argv) > 1 else None, 1)))


def b_cd(sh, argv, io):
    args = [a for a in argv[1:] if a not in ("-L", "-P")]
    if not args:
        target = sh.vars.get("HOME", "/")
    elif args[0] == "-":
        target = sh.vars.get("OLDPWD", sh.cwd)
        io.out((target + "\n").encode())
    else:
        target = args[0]
    dev = sh.device.fs.normalize(target, sh.cwd)
    err = sh.device.fs.dir_error(dev, who="shell")
    if err:
        io.err(f"{SH}: cd: {target}: {err}\n".encode("utf-8", "surrogateescape"))
        return 2
    sh.vars["OLDPWD"], sh.cwd = sh.cwd, dev
    sh.vars["PWD"] = dev
    return 0


def b_pwd(sh, argv, io):
    io.out((sh.cwd + "\n").encode())
    return 0


def b_export(sh, argv, io):
    status = 0
    for arg in argv[1:]:
        if arg == "-p":
            for k in sorted(sh.exported):
                io.out(f"export {k}={sh.vars.get(k, '')}\n".encode())
            continue
        name, eq, value = arg.partition("=")
        if not _NAME.match(name):
            io.err(f"{SH}: {argv[0]}: {arg}: is not an identifier\n".encode("utf-8", "surrogateescape"))
            status = 1
            continue
        if eq:
            sh.vars[name] = value
        sh.exported.add(name)
    return status


def b_unset(sh, argv, io):
    for name in argv[1:]:
        if name in ("-v", "-f"):
            continue
        sh.vars.pop(name, None)
        sh.funcs.pop(name, None)
    return 0


def b_set(sh, argv, io):
    args = argv[1:]
    if not args:
        for k in sorted(sh.vars):
            io.out(f"{k}={sh.vars[k]}\n".encode("utf-8", "surrogateescape"))
        return 0
    while args and args[0][:1] in ("-", "+") and args[0] != "--":
        flag = args.pop(0)
        for ch in flag[1:]:
            if ch not in "eux":
                io.err(f"{SH}: set: {flag}: not supported by the emulated phone's shell\n".encode())
                return 2
            (sh.options.add if flag[0] == "-" else sh.options.discard)(ch)
    if args and args[0] == "--":
        args.pop(0)
    if args or "--" in argv:
        sh.args = args
    return 0


def b_shift(sh, argv, io):
    n = _num(sh, io, "shift", argv[1] if len(argv) > 1 else None, 1)
    if n > len(sh.args):
        io.err(f"{SH}: shift: {n}: bad number\n".encode())
        return 1
    sh.args = sh.args[n:]
    return 0


def b_read(sh, argv, io):
    raw = "-r" in argv
    names = [a for a in argv[1:] if not a.startswith("-")] or ["REPLY"]
    buf = b""
    while b"\n" not in buf:
        chunk = io.stdin.read_chunk()
        if not chunk:
            break
        buf += chunk
    line, nl, rest = buf.partition(b"\n")
    if rest:
        io.stdin.unread(rest)
    text = line.decode("utf-8", "surrogateescape")
    if not raw:
        text = re.sub(r"\\(.)", r"\1", text)
    ifs = sh.vars.get("IFS", " \t\n")
    stripped = text.strip(ifs) if ifs else text
    pieces = re.split("[" + re.escape(ifs) + "]+", stripped, maxsplit=len(names) - 1) if ifs and stripped else [stripped]
    for k, name in enumerate(names):
        sh.vars[name] = pieces[k] if k < len(pieces) else ""
    return 0 if nl else 1


def b_wait(sh, argv, io):
    for t in sh.background:
        t.join()
    sh.background.clear()
    return 0


def b_eval(sh, argv, io):
    try:
        program = parser.parse(" ".join(argv[1:]))
    except ShellSyntaxError as e:
        io.err(f"{SH}: eval: {e}\n".encode())
        return 1
    return sh.exec_list(program, io)


def b_source(sh, argv, io):
    if len(argv) < 2:
        io.err(f"{SH}: {argv[0]}: missing argument\n".encode())
        return 2
    dev = sh.device.fs.normalize(argv[1], sh.cwd)
    try:
        text = sh.device.fs.read_bytes(dev, who="shell").decode("utf-8", "surrogateescape")
    except OSError as e:
        io.err(f"{SH}: {argv[0]}: {argv[1]}: {e.strerror}\n".encode())
        return 1
    try:
        program = parser.parse(text)
    except ShellSyntaxError as e:
        io.err(f"{SH}: {argv[1]}: {e}\n".encode())
        return 1
    return sh.exec_list(program, io)


def b_sh(sh, argv, io, env=None):
    """``sh -c 'script' [name [args]]``, ``sh FILE [args]``, ``sh`` (script on stdin)."""
    args = argv[1:]
    options, script, name = set(), None, SH
    while args and args[0].startswith("-") and len(args[0]) > 1:
        flag = args.pop(0)
        if flag == "--":
            break
        for ch in flag[1:]:
            if ch == "c":
                options.add("c")
            elif ch in "eux":
                options.add(ch)
            elif ch in "s":
                pass
            else:
                io.err(f"{SH}: -{ch}: unknown option\n".encode())
                return 2
    if "c" in options:
        if not args:
            io.err(f"{SH}: -c: option requires an argument\n".encode())
            return 1
        script = args.pop(0)
        if args:
            name = args.pop(0)
    elif args:
        name = args.pop(0)
        dev = sh.device.fs.normalize(name, sh.cwd)
        try:
            script = sh.device.fs.read_bytes(dev, who="shell").decode("utf-8", "surrogateescape")
        except OSError as e:
            io.err(f"{SH}: {name}: {e.strerror}\n".encode())
            return EXIT_NOT_FOUND
    else:
        script = io.stdin.read().decode("utf-8", "surrogateescape")
    child = Shell(sh.device, io.out, io.err, io.stdin, sh.stream)
    child.vars.update({k: v for k, v in (env or sh.vars).items() if k in sh.exported or env is not None})
    child.cwd, child.arg0, child.args = sh.cwd, name, args
    child.options |= options - {"c"}
    return child.run(script)


BUILTINS = {":": b_colon, "exit": b_exit, "return": b_return, "break": b_break, "continue": b_continue,
            "cd": b_cd, "pwd": b_pwd, "export": b_export, "readonly": b_export, "unset": b_unset, "set": b_set,
            "shift": b_shift, "read": b_read, "wait": b_wait, "eval": b_eval, ".": b_source, "source": b_source,
            "local": b_export}
# Assignments before these stay in the shell (POSIX special builtins).
_SPECIAL = {":", "exit", "return", "break", "continue", "export", "readonly", "unset", "set", "shift", "eval", ".",
            "local"}


def _call_function(sh: Shell, body, argv: list[str], io: IO) -> int:
    saved = sh.args, sh.arg0
    sh.args = argv[1:]
    try:
        sh.exec_command(body, io)
    except Jump as j:
        if j.kind != "return":
            raise
        sh.status = j.n
    finally:
        sh.args, _ = saved
    return sh.status


def _script_or_error(sh: Shell, name: str, io: IO, argv: list[str], env: dict) -> int:
    """A slash path: run it if it exists on the device and may be executed."""
    fs = sh.device.fs
    dev = fs.normalize(name, sh.cwd)
    host = fs.host(dev)
    base = dev.rsplit("/", 1)[-1]
    from harness.emulator.cmds import COMMANDS

    if dev.rsplit("/", 1)[0] in SYSTEM_BIN_DIRS and base in COMMANDS and not host.exists():
        return _run_command(sh, COMMANDS[base], argv, io, env)
    if not host.is_file() or not fs.traversable(dev, who="shell"):
        io.err(f"{SH}: {name}: inaccessible or not found\n".encode("utf-8", "surrogateescape"))
        return EXIT_NOT_FOUND
    mode = host.stat().st_mode
    if not (mode & (stat_mod.S_IXUSR | stat_mod.S_IXOTH)):
        io.err(f"{SH}: {name}: can't execute: Permission denied\n".encode("utf-8", "surrogateescape"))
        return EXIT_CANNOT_EXEC
    head = host.read_bytes()[:256]
    if head.startswith(b"\x7fELF"):
        io.err(f"{SH}: {name}: native binaries cannot run on the emulated phone\n".encode("utf-8", "surrogateescape"))
        return EXIT_CANNOT_EXEC
    if head.startswith(b"#!"):
        interp = head[2:].split(b"\n", 1)[0].strip().split()
        if not interp or interp[0].rsplit(b"/", 1)[-1] not in (b"sh", b"mksh"):
            io.err(f"{SH}: {name}: inaccessible or not found\n".encode("utf-8", "surrogateescape"))
            return EXIT_NOT_FOUND
    return b_sh(sh, ["sh", dev] + argv[1:], io, env)


def _run_command(sh: Shell, func, argv: list[str], io: IO, env: dict) -> int:
    ctx = sh.ctx(argv, io, env)
    return func(ctx)


def dispatch(sh: Shell, argv: list[str], assigns: list, io: IO) -> int:
    """Run one simple command; returns its status."""
    from harness.emulator.cmds import COMMANDS

    name = argv[0]
    env = sh.vars
    if assigns:
        if name in _SPECIAL:
            for k, v in assigns:
                sh.vars[k] = v
        else:
            env = dict(sh.vars)
            env.update(assigns)
    try:
        if "x" in sh.options:
            io.err(("+ " + " ".join(argv) + "\n").encode("utf-8", "surrogateescape"))
        if name in BUILTINS:
            return BUILTINS[name](sh, argv, io)
        if name in sh.funcs:
            return _call_function(sh, sh.funcs[name], argv, io)
        if name in ("sh", "mksh"):
            return b_sh(sh, argv, io, env if assigns else None)
        if "/" in name:
            if name.rsplit("/", 1)[-1] in ("sh", "mksh") and name.rsplit("/", 1)[0] in SYSTEM_BIN_DIRS:
                return b_sh(sh, argv, io, env if assigns else None)
            return _script_or_error(sh, name, io, argv, env)
        func = COMMANDS.get(name)
        if func is None:
            io.err(f"{SH}: {name}: inaccessible or not found\n".encode("utf-8", "surrogateescape"))
            return EXIT_NOT_FOUND
        return _run_command(sh, func, argv, io, env)
    except (ShellExit, Jump, PipeClosed):
        raise
    except Exception as e:
        from harness.emulator.transport import ConnectionDropped, StreamClosed

        if isinstance(e, (ConnectionDropped, StreamClosed)):
            raise
        log.exception("emulated command %r failed", name)
        try:
            io.err(f"{name}: the emulated phone failed: {type(e).__name__}: {e}\n".encode("utf-8", "replace"))
        except Exception:  # noqa: BLE001
            pass
        return EXIT_INTERNAL

