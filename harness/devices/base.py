"""What the run needs from a device, whatever it is (this host, a phone over ADB, a device farm).

A device takes an app-contract spec and gives back an app-contract result
(docs/app-contract.md), so the executor and the result files do not care which kind
measured. Every method the executor calls is here; nothing is looked up with ``getattr``.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from harness.convert.artifact import Converted

ProgressFn = Callable[[str], None]


@runtime_checkable
class Device(Protocol):
    alias: str
    kind: str              # "host", "android", ...: the devices.yaml ``kind``
    default_threads: int   # threads when the run does not ask for a number (devices.yaml ``threads``)

    def lock_key(self) -> str: ...             # names the device for the machine-wide lock
    def claim(self, run_id: str, wait_s: float, on_wait: ProgressFn) -> None: ...   # the device's own lock
    def cpu_count(self) -> int | None: ...     # cores, for the threads check (None: it won't say)
    def describe(self) -> dict: ...            # the result file's "device" record
    def app_info(self) -> dict | None: ...     # the installed benchmark app (package, version) or None
    def state(self) -> dict: ...               # thermal, battery, storage, screen: around each block
    def wait_steady(self, on_wait: ProgressFn) -> dict: ...   # the thermal gate; returns state
    def deploy(self, models: list[Converted], progress: ProgressFn) -> dict: ...   # what was done
    def model_path(self, model: Converted) -> str: ...        # where the app reads the model
    def run(self, spec: dict, model: Converted, on_progress: ProgressFn) -> dict: ...   # a contract result
    def recover(self, models: list[Converted]) -> dict | None: ...   # after a DeviceError: reattach
    def cleanup_run(self, run_id: str) -> None: ...           # remove the run's leftovers
    def close(self) -> None: ...                              # lets go of the claim; never raises



def check_runtime(alias: str, models: list[Converted], runtime: str | None, fix: str) -> None:
    """Refuse, in one line and before anything is pushed, a model the device's TFLite runtime is
    too old for (the converter records the oldest runtime with every kernel the model uses)."""
    from harness.convert.artifact import too_new_for
    from harness.errors import UserError

    refused = too_new_for(models, runtime)
    if refused:
        m, need = refused[0]
        others = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise UserError(f"{alias}: model {m.variant} L{m.max_length} needs TFLite runtime {need} or newer "
                        f"(its min_runtime_version){others}, but the installed app's runtime is {runtime}; {fix}")
