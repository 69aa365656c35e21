"""The emulated phone's processes as toybox shows them: ``pidof``, ``ps``, ``top -n 1``."""
from __future__ import annotations

from harness.emulator.sh.streams import Ctx


def cmd_pidof(ctx: Ctx) -> int:
    """toybox pidof: matches process names; exit 1 when none."""
    pids = []
    for name in ctx.argv[1:]:
        if name.startswith("-"):
            continue
        pids += ctx.device.apps.running_pids(name)
        pids += [p.pid for p in list(ctx.device.procs.values()) if p.name == name]
    if not pids:
        return 1
    ctx.out(" ".join(str(p) for p in sorted(set(pids), reverse=True)) + "\n")
    return 0


def _all_procs(ctx: Ctx) -> list:
    procs = list(ctx.device.procs.values()) + list(ctx.device.apps.procs.values())
    return sorted(procs, key=lambda p: p.pid)


def cmd_ps(ctx: Ctx) -> int:
    """toybox ps: default columns USER PID PPID VSZ RSS WCHAN ADDR S NAME; without -A/-e only
    this shell's processes."""
    flags = "".join(a[1:] for a in ctx.argv[1:] if a.startswith("-"))
    procs = _all_procs(ctx)
    if not ({"A", "e"} & set(flags)):
        me = ctx.shell.pid if ctx.shell is not None else 0
        procs = [p for p in procs if p.pid == me]
    names = [a for a in ctx.argv[1:] if not a.startswith("-")]
    if names:
        procs = [p for p in _all_procs(ctx) if p.name in names or str(p.pid) in names]
    ps_pid = ctx.device._next_pid + 1
    ctx.out("USER           PID  PPID        VSZ    RSS WCHAN            ADDR S NAME                       \n")
    for p in procs:
        rss = ctx.device.apps.memory_kb(p.pid)[0] if ctx.device.apps.process(p.pid) else p.rss_kb
        ctx.out(f"{p.user:<12} {p.pid:>5} {p.ppid:>5} {rss * 4 + 10_000_000:>10} {rss:>6} do_epoll_wait       0 S "
                f"{p.name}\n")
    if not names:
        ctx.out(f"shell        {ps_pid:>5} {ctx.shell.pid if ctx.shell else 1:>5} {10_811_164:>10} {3_488:>6} 0"
                f"                   0 R ps\n")
    return 0


def cmd_top(ctx: Ctx) -> int:
    """toybox top -n 1 (-b): the header and the process table, once. CPU figures are not modelled
    (all processes show 0.0 %CPU, the app 100.0 while it works)."""
    procs = _all_procs(ctx)
    total = ctx.device.profile.mem_total_kb
    cpus = ctx.device.profile.cpus
    ctx.out(f"Tasks: {len(procs) + 1} total,   1 running, {len(procs)} sleeping,   0 stopped,   0 zombie\n"
            f"  Mem: {total:>8}K total, {total * 6 // 7:>8}K used, {total // 7:>8}K free,    12472K buffers\n"
            f" Swap: {total // 2:>8}K total,        0K used, {total // 2:>8}K free, {total // 4:>8}K cached\n"
            f"{cpus * 100}%cpu   0%user   0%nice   0%sys {cpus * 100}%idle   0%iow   0%irq   0%sirq   0%host\n"
            "  PID USER         PR  NI VIRT  RES  SHR S[%CPU] %MEM     TIME+ ARGS\n")
    for p in procs:
        running = bool(getattr(p, "run", None) and not p.run.done.is_set())
        rss = ctx.device.apps.memory_kb(p.pid)[0] if ctx.device.apps.process(p.pid) else p.rss_kb
        ctx.out(f"{p.pid:>5} {p.user:<12} {10 if running else 20:>3} {-10 if running else 0:>3} "
                f"{'10G':>4} {rss / 1024:>4.0f}M {'2.1M':>4} {'R' if running else 'S'} "
                f"{100.0 if running else 0.0:>5.1f} {100 * rss / total:>4.1f}   0:00.00 {p.name}\n")
    return 0


COMMANDS = {"pidof": cmd_pidof, "ps": cmd_ps, "top": cmd_top}
