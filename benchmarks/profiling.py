"""Measuring recognizers: wall time, training peak memory, inference.

Shared by the benchmarks and the study (:mod:`study`), so every number
of the project is measured the same way:

- :func:`interleaved_medians`: median wall times of several models, the
  models taking turns.
- :func:`step_times`: median wall and process CPU time of repeated calls.
- :class:`TrainStep` and :func:`train_peak_bytes`: one SGD step and the
  most bytes it holds at once (exact on CPU through
  :class:`LiveStorageTracker`, ``max_memory_allocated`` on CUDA).
- :func:`os_peak_bytes`: the same step's memory as the machine sees it
  (rise of the peak resident set on CPU, ``max_memory_reserved`` on
  CUDA), for a process that holds one model.
- :func:`inference`: frames to class scores under ``inference_mode``.
- :class:`OpCounter`: the ATen ops a computation dispatches (on a GPU,
  each is at least one kernel launch).
"""
import collections
import resource
import statistics
import time
import weakref
from pathlib import Path
from typing import Callable, Counter, Dict, Iterable, Iterator, List, Optional

import torch
from mmaction.structures import ActionDataSample
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveStorageTracker(TorchDispatchMode):
    """Peak bytes of live tensor storages while the mode is active.

    Every aten op runs through :meth:`__torch_dispatch__`. A returned
    tensor whose schema says it is freshly allocated (no alias annotation:
    not a view, not an in-place or ``out=`` result) adds its storage's
    ``nbytes`` to the live total, and a ``weakref.finalize`` on the storage
    subtracts them when the storage is freed (PyTorch keeps one Python
    object per storage alive as long as the storage, so the finalizer runs
    exactly at deallocation). A storage seen again whose size changed
    (``resize_``) is re-counted. Tensors that exist before the mode starts
    (parameters, optimizer state, inputs) are added with :meth:`track`, so
    the peak covers everything a step holds. Views share their base's
    storage and count once.

    Not seen: scratch memory that a kernel allocates and frees inside one
    op (e.g. oneDNN workspaces) and allocator overhead, so the peak is a
    lower bound of the process's resident memory, like
    ``torch.cuda.max_memory_allocated`` on a GPU.

    Example:
        >>> with LiveStorageTracker() as tracker:
        ...     tracker.track(model.parameters())
        ...     train_step()
        >>> tracker.peak_bytes
    """

    def __init__(self) -> None:
        super().__init__()
        self.live_bytes = 0
        self.peak_bytes = 0
        self._sizes: Dict[int, int] = {}
        self._finalizers: List[weakref.finalize] = []

    def track(self, tensors: Iterable[Tensor]) -> None:
        """Count the storages of tensors that already exist."""
        for tensor in tensors:
            self._register(tensor)

    def _register(self, tensor: Tensor) -> None:
        if tensor.layout != torch.strided or tensor.device.type == 'meta':
            return
        storage = tensor.untyped_storage()
        key = storage._cdata
        nbytes = storage.nbytes()
        if key in self._sizes:
            self._add(nbytes - self._sizes[key])
        else:
            self._finalizers.append(
                weakref.finalize(storage, self._release, key))
            self._add(nbytes)
        self._sizes[key] = nbytes

    def _add(self, nbytes: int) -> None:
        self.live_bytes += nbytes
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)

    def _release(self, key: int) -> None:
        self.live_bytes -= self._sizes.pop(key)

    def _is_tracked(self, tensor: Tensor) -> bool:
        return (tensor.layout == torch.strided
                and tensor.device.type != 'meta'
                and tensor.untyped_storage()._cdata in self._sizes)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        values = out if isinstance(out, tuple) else (out, )
        for returned, value in zip(func._schema.returns, values):
            fresh = returned.alias_info is None
            for tensor in tree_flatten(value)[0]:
                if isinstance(tensor, Tensor) and (
                        fresh or self._is_tracked(tensor)):
                    self._register(tensor)
        return out

    def __exit__(self, *exc_info):
        for finalizer in self._finalizers:
            finalizer.detach()
        self._finalizers.clear()
        return super().__exit__(*exc_info)


class OpCounter(TorchDispatchMode):
    """Count the ATen ops dispatched while the mode is active.

    Views and in-place ops count like any other op; ops that autograd or
    a composite op decomposes are counted as the ATen ops that reach the
    dispatcher's Python mode (what a backend, e.g. CUDA, launches).

    Example:
        >>> with torch.no_grad(), OpCounter() as ops:
        ...     backbone(frames)
        >>> ops.total, ops.counts.most_common(5)
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = collections.Counter()

    @property
    def total(self) -> int:
        """Number of ops seen."""
        return sum(self.counts.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func)] += 1
        return func(*args, **(kwargs or {}))


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def seconds(run: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call of ``run``, the device synchronized."""
    synchronize(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


def interleaved_medians(runs: Dict[str, Callable[[], object]], repeats: int,
                        warmup: int,
                        device: torch.device) -> Dict[str, float]:
    """Median wall time of each run, the runs taking turns.

    Taking turns (A, B, C, A, B, C, ...) spreads any change in the load of
    a shared machine over all models, so their ratios stay fair.

    Args:
        runs (dict[str, callable]): Closures to time, by model key.
        repeats (int): Timed calls of each.
        warmup (int): Untimed calls of each first.
        device (torch.device): Synchronized around each timed call.

    Returns:
        dict[str, float]: Median seconds per key.
    """
    for run in runs.values():
        for _ in range(warmup):
            run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(seconds(run, device))
    return {name: statistics.median(t) for name, t in times.items()}


def step_times(step: Callable[[], object], repeats: int,
               device: torch.device) -> Dict[str, float]:
    """Median wall time of ``repeats`` calls of ``step`` (``step_s``) and,
    on CPU, the median process CPU time of the same calls, split into user
    and system (kernel) time (``cpu_s``, ``user_s``, ``sys_s``;
    ``getrusage``).

    System time is where page faults show: a malloc that returns memory to
    the OS faults it in again on the next step.
    """
    walls, cpu_samples = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF)
        walls.append(seconds(step, device))
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_samples.append((after.ru_utime - before.ru_utime,
                            after.ru_stime - before.ru_stime))
    result = dict(step_s=statistics.median(walls))
    if device.type == 'cpu':
        user, system = sorted(cpu_samples, key=sum)[len(cpu_samples) // 2]
        result.update(cpu_s=user + system, user_s=user, sys_s=system)
    return result


def inference(model: nn.Module, clips: Tensor, amp: bool = False) -> Tensor:
    """Class scores of a 2D recognizer, frames to logits.

    Args:
        model (nn.Module): A ``Recognizer2D`` in eval mode.
        clips (torch.Tensor): Clips of shape (N, T, 3, H, W).
        amp (bool): Autocast to float16 (CUDA).

    Returns:
        torch.Tensor: Scores of shape (N, num_classes).
    """
    with torch.inference_mode(), torch.autocast(
            clips.device.type, dtype=torch.float16, enabled=amp):
        scores, _ = model.extract_feat(clips, stage='head', test_mode=True)
    return scores


class TrainStep:
    """One SGD step (momentum 0.9) of a recognizer on fixed clips.

    Args:
        model (nn.Module): A ``Recognizer2D``; set to train mode here.
        clips (torch.Tensor): Clips of shape (N, T, 3, H, W).
        num_classes (int): Classes of the head (labels cycle over them).
        amp (bool): Mixed precision on CUDA: autocast to float16 and a
            gradient scaler (the usual AMP recipe).
    """

    def __init__(self,
                 model: nn.Module,
                 clips: Tensor,
                 num_classes: int,
                 amp: bool = False) -> None:
        self.model = model.train()
        self.clips = clips
        self.amp = amp
        self.samples = [
            ActionDataSample().set_gt_label(i % num_classes)
            for i in range(clips.shape[0])
        ]
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        self.scaler = torch.amp.GradScaler(
            clips.device.type, enabled=amp and clips.device.type == 'cuda')

    def __call__(self) -> None:
        """Forward, backward, SGD step; the gradients are then freed."""
        with torch.autocast(
                self.clips.device.type, dtype=torch.float16,
                enabled=self.amp):
            losses = self.model.loss(self.clips, self.samples)
            loss, _ = self.model.parse_losses(losses)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def state(self) -> Iterator[Tensor]:
        """Tensors held between steps: parameters, buffers, momentum
        buffers and the input clips."""
        yield from self.model.parameters()
        yield from self.model.buffers()
        for state in self.optimizer.state.values():
            yield from (v for v in state.values() if isinstance(v, Tensor))
        yield self.clips


_PROC_STATUS = Path('/proc/self/status')
_PROC_CLEAR_REFS = Path('/proc/self/clear_refs')


def _proc_status_kib(field: str) -> int:
    for line in _PROC_STATUS.read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    raise KeyError(f'{field} not in {_PROC_STATUS}')


def resident_bytes() -> Optional[int]:
    """The process's resident set now (Linux ``VmRSS``), or None."""
    if not _PROC_STATUS.exists():
        return None
    return _proc_status_kib('VmRSS') * 1024


def os_peak_bytes(step: Callable[[], object],
                  device: torch.device,
                  baseline: Optional[int] = None) -> Optional[int]:
    """Memory of one call of ``step`` as the machine sees it.

    On CPU, the rise of the process's peak resident set during the call
    (Linux: the peak mark ``VmHWM``, reset through
    ``/proc/self/clear_refs`` before the call) over ``baseline``, by
    default the resident set just before the call. Unlike
    :class:`LiveStorageTracker` this includes what the C allocator keeps
    mapped after tensors are freed (fragmentation) and kernel workspaces.
    Pass as ``baseline`` the :func:`resident_bytes` taken before a
    model's first training step: memory that malloc kept from earlier
    steps is then counted too (with the default baseline it would be
    resident already and missed). On CUDA,
    ``torch.cuda.max_memory_reserved`` during the call (everything the
    caching allocator holds from the driver). Run it in a process that
    holds only the measured model.

    Args:
        step (callable): The computation, e.g. a :class:`TrainStep` that
            already ran once.
        device (torch.device): Where it runs.
        baseline (int, optional): Resident bytes to measure the CPU rise
            from.

    Returns:
        int or None: Bytes; None on a CPU without Linux's ``/proc``.
    """
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        synchronize(device)
        return torch.cuda.max_memory_reserved(device)
    if not (_PROC_STATUS.exists() and _PROC_CLEAR_REFS.exists()):
        return None
    if baseline is None:
        baseline = resident_bytes()
    _PROC_CLEAR_REFS.write_text('5')  # resets the peak mark VmHWM
    step()
    return _proc_status_kib('VmHWM') * 1024 - baseline


def storage_bytes(tensors: Iterable[Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    sizes = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        sizes[storage._cdata] = storage.nbytes()
    return sum(sizes.values())


def train_peak_bytes(step: TrainStep) -> int:
    """Peak bytes held during one training step, its state included.

    On CPU the peak of :class:`LiveStorageTracker`; on CUDA the rise of
    ``torch.cuda.max_memory_allocated`` over the memory allocated before
    the step, plus the step's own state (other models may be resident).

    Args:
        step (TrainStep): The step, already run once (momentum exists).

    Returns:
        int: Peak bytes.
    """
    device = step.clips.device
    if device.type == 'cuda':
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        synchronize(device)
        rise = torch.cuda.max_memory_allocated(device) - before
        return rise + storage_bytes(step.state())
    with LiveStorageTracker() as tracker:
        tracker.track(step.state())
        step()
    return tracker.peak_bytes
