"""A papermill engine that keeps one kernel warm per worker and runs each notebook clean.

Starting and stopping a Jupyter kernel costs about 1.3 s, and a new kernel imports pandas,
matplotlib and evalkit again (about another second): for a small report, more than its own
work. So the engine registered here as ``evalkit_warm`` keeps the kernel between notebooks. Per worker thread (one per process in a process pool, one per Dask worker
thread) there is at most one kernel:

- The first notebook a worker runs starts it; later notebooks reuse it, so the modules the
  reports import (pandas, matplotlib, evalkit) are already loaded.
- Before every notebook, the kernel is put back as a fresh one would be (see
  :data:`KERNEL_SOURCE`): the working directory is set to the notebook's; IPython's user
  namespace, output cache and history are reset (``InteractiveShell.reset``, what ``%reset -f``
  does, with a new session so that execution counts start at 1 again); matplotlib figures are
  closed and ``rcParams`` restored to what they were right after matplotlib was imported;
  the warning filters are restored and the "already shown" warning registries forgotten;
  ``sys.last_*`` (the last traceback) dropped. (IPython's reset collects garbage itself.)
  Not restored, because a report has no business changing them: environment variables,
  ``sys.path``, pandas options, IPython event hooks a notebook registers itself, and the
  module-level state of imported modules (a cache in a module must key on what it caches).
- A kernel whose cell timed out, that died, whose reset failed or that raised anything but a
  cell's own error is discarded (killed); the next notebook starts a fresh one. A cell that
  raises is the notebook's failure, not the kernel's: that kernel is kept.
- A kernel is also retired after :data:`MAX_USES` notebooks (bounding what any leak can cost)
  and killed after :data:`IDLE_SECONDS` without work (a long-lived Dask worker does not keep an
  idle kernel forever). Every kernel is killed when its process exits.
- The output notebook is written when the run ends, whether it succeeded or failed (and during
  a long cell, every ``autosave_cell_every`` seconds), not after every cell as papermill's
  own engine does; the notebook written is the same.

The engine is selected with ``papermill.execute_notebook(..., engine_name="evalkit_warm")`` or
``papermill --engine evalkit_warm``. It is registered when this module is imported and, once
the package is installed with the entry point in ``pyproject.toml``, whenever papermill is:

    [project.entry-points."papermill.engine"]
    evalkit_warm = "evalkit.publish.engine:WarmEngine"

Besides papermill's own arguments it takes ``kernel_cwd`` (the folder the notebook runs in;
without it, the current directory) and ``kernel_manager_class``. Passing ``kernel_cwd`` instead
of papermill's ``cwd`` keeps papermill from changing the process's working directory, which
makes the engine safe to run in several threads of one process.
"""
from __future__ import annotations

import atexit
import multiprocessing.util
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "evalkit_warm"
# Notebooks one kernel runs before it is replaced by a fresh one.
MAX_USES = 200
# Seconds a kernel may sit idle before it is killed; the reaper looks every REAP_EVERY seconds.
IDLE_SECONDS = 300.0
REAP_EVERY = 15.0
# Seconds the kernel may take to prepare itself (first import of matplotlib included).
SETUP_TIMEOUT = 120.0
RESET_TIMEOUT = 60.0
# nbclient's default: the kernel keeps its input history in memory, not in ~/.ipython.
HISTORY_ARGUMENT = "--HistoryManager.hist_file=:memory:"

KERNEL_MODULE = "_evalkit_warm"
# Installed as a module inside each warm kernel. ``snapshot`` runs once in a fresh kernel,
# ``reset(cwd)`` before every notebook. The directory is changed before IPython's reset, which
# records the current directory as the start of ``_dh``.
KERNEL_SOURCE = '''
import os
import sys
import warnings

_state = {}


def snapshot():
    # matplotlib is imported here, as every report would import it, so that rcParams can be
    # put back to their state right after import (which includes the inline backend's).
    try:
        import matplotlib
        import matplotlib.pyplot
    except ImportError:
        pass
    else:
        rc = dict(matplotlib.rcParams.copy())
        rc.pop("backend", None)
        _state["rc"] = rc
    _state["filters"] = list(warnings.filters)


def reset(cwd):
    from IPython import get_ipython

    os.chdir(cwd)
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        sys.__dict__.pop(name, None)
    if "rc" in _state:
        import matplotlib
        import matplotlib.pyplot

        matplotlib.pyplot.close("all")
        # as matplotlib.rc_context restores them: no validation, the backend untouched
        dict.update(matplotlib.rcParams, _state["rc"])
    # Adding a filter bumps the filters' version, which empties every module's registry of
    # warnings already shown; then the list is put back as it was.
    warnings.filterwarnings("ignore", message="\\x00")
    warnings.filters[:] = _state["filters"]
    # Last, so that its garbage collection frees what the steps above let go.
    get_ipython().reset(new_session=True)
'''

SETUP_CODE = (
    "import sys as _s, types as _t\n"
    f"_m = _t.ModuleType({KERNEL_MODULE!r})\n"
    f"exec({KERNEL_SOURCE!r}, _m.__dict__)\n"
    "_s.modules[_m.__name__] = _m\n"
    "_m.snapshot()\n"
    "del _s, _t, _m\n"
)


def reset_code(cwd: str) -> str:
    """The code run (silently) in a warm kernel before each notebook."""
    return f"__import__({KERNEL_MODULE!r}).reset({str(cwd)!r})"


class IPCKernelManager(AsyncKernelManager):
    """Kernels talk over Unix sockets in a private temporary folder rather than TCP ports:
    no port clashes between parallel kernels ("Address already in use"), nothing reachable
    from the network, and none of ipykernel's warning about unencrypted TCP on stderr."""

    socket_dir = tempfile.gettempdir()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.ip = os.path.join(self.socket_dir, "kernel")


class KernelNotReady(RuntimeError):
    """A warm kernel could not be prepared or reset."""


@dataclass(eq=False)
class _Kernel:
    km: AsyncKernelManager
    kernel_name: str
    manager_class: type
    socket_dir: str | None
    kc: object = None
    uses: int = 0
    busy: bool = False
    killed: bool = False
    idle_since: float = field(default_factory=time.monotonic)
    process: object = None          # the kernel's subprocess.Popen, when the launcher has one
    owner: int = field(default_factory=os.getpid)

    @property
    def pid(self) -> int | None:
        return getattr(self.process, "pid", None)


_local = threading.local()
_lock = threading.Lock()
_live: set[_Kernel] = set()
_reaper: threading.Thread | None = None


def _wait(call, *args, **kwargs):
    """Run a jupyter_client call that may be a coroutine on this thread's event loop (the one
    nbclient uses too, so the kernel's sockets stay on one loop)."""
    async def run():
        return await ensure_async(call(*args, **kwargs))
    return run_sync(run)()


async def _ask(kc, code: str, timeout: float) -> dict:
    """Execute ``code`` silently (no output, no history, no execution count) and return the
    reply's content; only the shell channel is read, so no output of it is ever seen."""
    msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the kernel did not answer within {timeout:g} s")
        try:
            msg = await ensure_async(kc.get_shell_msg(timeout=left))
        except queue.Empty:
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            return msg["content"]


def _run_silently(kernel: _Kernel, code: str, timeout: float) -> None:
    content = run_sync(_ask)(kernel.kc, code, timeout)
    if content.get("status") != "ok":
        raise KernelNotReady(f"the kernel could not be prepared: {content.get('ename')}: "
                             f"{content.get('evalue')}")


def _kill_process(kernel: _Kernel) -> None:
    """Kill the kernel's process from any thread (no event loop, no sockets touched). Popen
    does not signal a process it has already reaped, so a recycled pid is never hit."""
    if kernel.process is not None and kernel.owner == os.getpid():
        try:
            kernel.process.kill()
        except OSError:
            pass


def _discard(kernel: _Kernel) -> None:
    """Kill ``kernel`` and free what it held; never raises (a kernel may be half-started or
    already dead)."""
    with _lock:
        _live.discard(kernel)
        kernel.killed = True
    if getattr(_local, "kernel", None) is kernel:
        _local.kernel = None
    try:
        if kernel.kc is not None:
            kernel.kc.stop_channels()
    except Exception:  # noqa: BLE001 -- best effort on a kernel being thrown away
        pass
    try:
        if kernel.km.has_kernel:
            _wait(kernel.km.shutdown_kernel, now=True)
    except Exception:  # noqa: BLE001
        _kill_process(kernel)
    try:
        _wait(kernel.km.cleanup_resources)
    except Exception:  # noqa: BLE001
        pass
    if kernel.socket_dir:
        shutil.rmtree(kernel.socket_dir, ignore_errors=True)


def _start(kernel_name: str, manager_class: type, cwd: str, start_timeout: float) -> _Kernel:
    """A fresh kernel, ready, with the reset module installed; on failure nothing is left
    running and the error is raised as the kernel manager raised it (so that a caller can
    tell a kernel that did not start)."""
    socket_dir = None
    if issubclass(manager_class, IPCKernelManager):
        socket_dir = tempfile.mkdtemp(prefix="evalkit-kernel-")
        manager_class = type("KernelManager", (manager_class,), {"socket_dir": socket_dir})
    km = manager_class(kernel_name=kernel_name)
    # busy from the start: the reaper must not take a kernel that is still starting
    kernel = _Kernel(km=km, kernel_name=kernel_name, manager_class=manager_class,
                     socket_dir=socket_dir, busy=True)
    try:
        extra = [HISTORY_ARGUMENT] if getattr(km, "ipykernel", False) else []
        _wait(km.start_kernel, extra_arguments=extra, cwd=cwd)
        kernel.process = getattr(km.provisioner, "process", None)
        with _lock:
            _live.add(kernel)
        kc = km.client()
        kc.start_channels()
        kernel.kc = kc
        _wait(kc.wait_for_ready, timeout=start_timeout)
        kc.allow_stdin = False
        _run_silently(kernel, SETUP_CODE, SETUP_TIMEOUT)
    except BaseException:
        _discard(kernel)
        raise
    _start_reaper()
    return kernel


def _acquire(kernel_name: str, manager_class: type, cwd: str, start_timeout: float) -> _Kernel:
    """This thread's kernel, reset for a notebook that runs in ``cwd``: the warm one when it
    is the right kind, alive and resets cleanly; else a fresh one."""
    kernel = getattr(_local, "kernel", None)
    if kernel is not None:
        with _lock:
            usable = not kernel.killed
            kernel.busy = usable
        if (usable and kernel.kernel_name == kernel_name
                and issubclass(kernel.manager_class, manager_class)):
            try:
                if _wait(kernel.km.is_alive):
                    _run_silently(kernel, reset_code(cwd), RESET_TIMEOUT)
                    return kernel
            except Exception:  # noqa: BLE001 -- a kernel that cannot be reset is replaced
                pass
        _discard(kernel)
    kernel = _start(kernel_name, manager_class, cwd, start_timeout)
    _local.kernel = kernel
    try:
        _run_silently(kernel, reset_code(cwd), RESET_TIMEOUT)
    except BaseException:
        _discard(kernel)
        raise
    return kernel


def _release(kernel: _Kernel, healthy: bool) -> None:
    kernel.uses += 1
    with _lock:
        kernel.busy = False
        kernel.idle_since = time.monotonic()
    if not healthy or kernel.uses >= MAX_USES:
        _discard(kernel)


def reap_idle(now: float | None = None) -> int:
    """Kill the kernels idle for longer than IDLE_SECONDS (at monotonic time ``now``) and
    return how many. The thread that owned one notices (``killed``) on its next notebook and
    cleans up its client itself, on its own event loop."""
    now = time.monotonic() if now is None else now
    with _lock:
        idle = [k for k in _live if not k.busy and now - k.idle_since > IDLE_SECONDS]
        for kernel in idle:
            kernel.killed = True
            _live.discard(kernel)
    for kernel in idle:
        _kill_process(kernel)
        if kernel.socket_dir:
            shutil.rmtree(kernel.socket_dir, ignore_errors=True)
    return len(idle)


def _reap() -> None:
    while True:
        time.sleep(min(REAP_EVERY, max(IDLE_SECONDS / 4, 0.05)))
        reap_idle()


def _start_reaper() -> None:
    global _reaper
    with _lock:
        if _reaper is None or not _reaper.is_alive():
            _reaper = threading.Thread(target=_reap, name="evalkit-kernel-reaper", daemon=True)
            _reaper.start()


def live_kernels() -> list[int]:
    """Process ids of this process's warm kernels (for monitoring and tests)."""
    with _lock:
        return sorted(k.pid for k in _live if k.pid is not None)


def shutdown_kernels() -> None:
    """Stop every warm kernel of this process: this thread's is shut down with its client,
    the others' are killed. Call it to free the kernels early (e.g. in a notebook that
    rendered reports in-process); the process's exit kills whatever is left by itself."""
    mine = getattr(_local, "kernel", None)
    if mine is not None:
        _discard(mine)
    _kill_all()


def _kill_all() -> None:
    """Kill every kernel this process started, touching no sockets or event loops (safe
    while the interpreter shuts down)."""
    with _lock:
        kernels = [k for k in _live if k.owner == os.getpid()]
        _live.clear()
    for kernel in kernels:
        kernel.killed = True
        _kill_process(kernel)
        try:
            os.remove(kernel.km.connection_file)
        except (OSError, TypeError, AttributeError):
            pass
        if kernel.socket_dir:
            shutil.rmtree(kernel.socket_dir, ignore_errors=True)
    if getattr(_local, "kernel", None) is not None:
        _local.kernel = None


def _forget() -> None:
    """In a forked child: the parent's kernels are the parent's to stop."""
    global _local, _lock, _reaper
    _lock = threading.Lock()   # another thread may have held it at the fork
    _live.clear()
    _local = threading.local()
    _reaper = None


# Pool workers leave through multiprocessing's exit path, other processes through atexit.
atexit.register(_kill_all)
multiprocessing.util.Finalize(None, _kill_all, exitpriority=100)
os.register_at_fork(after_in_child=_forget)


class _SavedAtEnd(NotebookExecutionManager):
    """papermill's execution record, written when the run ends (also when it fails: the
    record then shows the cell that was running) and during a long cell every
    ``autosave_cell_every`` seconds, but not twice per cell: rewriting a report's notebook,
    images and all, after every cell costs more than a tenth of its run."""

    _per_cell = False

    def save(self, **kwargs):
        if not self._per_cell:
            super().save(**kwargs)

    def _quietly(self, method, *args, **kwargs):
        self._per_cell = True
        try:
            return method(*args, **kwargs)
        finally:
            self._per_cell = False

    def notebook_start(self, **kwargs):
        return self._quietly(super().notebook_start, **kwargs)

    def cell_start(self, cell, cell_index=None, **kwargs):
        return self._quietly(super().cell_start, cell, cell_index, **kwargs)

    def cell_complete(self, cell, cell_index=None, **kwargs):
        return self._quietly(super().cell_complete, cell, cell_index, **kwargs)


class WarmEngine(NBClientEngine):
    """papermill's nbclient engine with the kernel kept warm between notebooks (see the
    module's description for what is reset and when a kernel is replaced). The output
    notebook is written when the run ends, not after every cell (see :class:`_SavedAtEnd`)."""

    @classmethod
    def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True,
                         log_output=False, autosave_cell_every=30, **kwargs):
        nb_man = _SavedAtEnd(nb, output_path=output_path, progress_bar=progress_bar,
                             log_output=log_output, autosave_cell_every=autosave_cell_every)
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None,
                                 **kwargs):
        cwd = str(kwargs.pop("kernel_cwd", None) or os.getcwd())
        manager_class = kwargs.pop("kernel_manager_class", None) or AsyncKernelManager
        kwargs = remove_args(["input_path", "km"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
            log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        kernel = _acquire(kernel_name, manager_class, cwd, start_timeout)
        healthy = False
        try:
            client = PapermillNotebookClient(nb_man, km=kernel.km, **final_kwargs)
            # nbclient starts neither a kernel nor a client when it is given both.
            client.kc = kernel.kc
            client.execute()
            # papermill catches a cell's error inside execute(); anything that escapes it
            # (a timeout, a dead kernel, an interruption) leaves the kernel in doubt.
            healthy = True
        finally:
            _release(kernel, healthy)
        return nb_man.nb


papermill_engines.register(ENGINE_NAME, WarmEngine)
