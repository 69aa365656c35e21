"""Redirections of the emulated shell: ``N>file``, ``N>>file``, ``N<file``, ``N>&M``, ``N>&-`` on the device."""
from __future__ import annotations

from harness.emulator.sh.streams import IO, SH, FileSink, InStream, Stdin, null_sink


class RedirError(Exception):
    """A redirection that cannot be made; ``message`` is the shell's whole error line."""

    def __init__(self, message: str):
        self.message = message


def redirect(sh, redirs: list, io: IO) -> tuple[IO, list]:
    """``io`` with ``redirs`` applied (``N>&M``, ``N>&-``, ``<``, ``>``, ``>>``), and the sinks opened for them."""
    if not redirs:
        return io, []
    sinks = {0: io.stdin, 1: io.out, 2: io.err}
    opened: list = []
    fs = sh.device.fs
    try:
        for r in redirs:
            if r.dup is not None:
                if r.dup == "-":
                    sinks[r.fd] = null_sink if r.fd else Stdin(b"")
                    continue
                src = int(r.dup)
                if src not in sinks:
                    raise RedirError(f"{SH}: {src}: bad file descriptor\n")
                sinks[r.fd] = sinks[src]
                continue
            target = sh.expander.word_text(r.target)
            dev = fs.normalize(target, sh.cwd)
            if r.op == "<":
                if fs.is_virtual(dev):
                    sinks[r.fd] = Stdin(sh.device.virtual_text(dev).encode())
                    continue
                try:
                    sinks[r.fd] = Stdin(fs.read_bytes(dev, who="shell"))
                except OSError as e:
                    raise RedirError(f"{SH}: can't open {target}: {e.strerror}\n") from None
                continue
            if dev == "/dev/null":
                sinks[r.fd] = null_sink
                continue
            try:
                sink = FileSink(sh.device, dev, append=r.op == ">>")
            except OSError as e:
                raise RedirError(f"{SH}: can't create {target}: {e.strerror}\n") from None
            opened.append(sink)
            sinks[r.fd] = sink
    except BaseException:
        for s in opened:
            s.close()
        raise
    stdin = sinks.get(0, io.stdin)
    return IO(stdin if isinstance(stdin, InStream) else io.stdin, sinks.get(1, io.out), sinks.get(2, io.err)), opened
