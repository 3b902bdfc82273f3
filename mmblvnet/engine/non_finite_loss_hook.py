"""Stop (or skip the update) when the training loss is NaN or Inf.

Without it a diverged run goes on stepping with NaN gradients, logs
``loss: nan`` and saves (and rotates in) checkpoints full of NaN.
"""
import torch
from mmaction.registry import HOOKS
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict

from .checkpoint_integrity import non_finite_names
from .runner_model import runner_model

NON_FINITE_ACTIONS = ('error', 'skip')


def _all_finite(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is finite on every process (so all act alike)."""
    bad = (~torch.isfinite(loss.detach())).any().float().reshape(1)
    if is_distributed():
        all_reduce(bad)
    return bad.item() == 0


def _describe(loss: torch.Tensor) -> str:
    value = loss.detach().float().reshape(-1)
    return str(value[0].item()) if value.numel() == 1 else 'non-finite'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check the loss of every iteration before its parameter update.

    The check wraps ``update_params`` of the optimizer wrapper(s), so a
    NaN/Inf loss never reaches the weights: with ``on_non_finite='error'``
    training stops with a ``FloatingPointError`` naming the iteration and
    the last checkpoint, which holds finite weights; with ``'skip'`` the
    update is skipped with a warning naming the iteration, and the buffers
    (BatchNorm statistics) its forward pass changed are restored. As a
    second guard, a checkpoint whose weights are not finite is never
    written.

    Args:
        on_non_finite (str): ``'error'`` (default) or ``'skip'``.
        max_skips_in_a_row (int): With ``'skip'``, stop after this many
            non-finite iterations in a row. Defaults to 10.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 on_non_finite: str = 'error',
                 max_skips_in_a_row: int = 10) -> None:
        if on_non_finite not in NON_FINITE_ACTIONS:
            raise ValueError(f'on_non_finite={on_non_finite!r}; choose one '
                             f'of {NON_FINITE_ACTIONS}')
        self.on_non_finite = on_non_finite
        self.max_skips_in_a_row = max_skips_in_a_row
        self._skips_in_a_row = 0
        self._buffers = []

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """With ``'skip'``, keep the buffers (BatchNorm statistics) that a
        forward pass on a poisoned batch would spoil."""
        if self.on_non_finite == 'skip':
            self._buffers = [
                buffer.detach().clone()
                for buffer in runner_model(runner).buffers()
            ]

    def before_train(self, runner) -> None:
        """Put the loss check in front of every optimizer wrapper."""
        wrappers = runner.optim_wrapper
        if isinstance(wrappers, OptimWrapperDict):
            wrappers = list(wrappers.values())
        else:
            wrappers = [wrappers]
        for wrapper in wrappers:
            self._guard(runner, wrapper)

    def _guard(self, runner, wrapper) -> None:
        update_params = wrapper.update_params
        if getattr(update_params, 'checks_finite_loss', False):
            return

        def checked_update_params(loss, *args, **kwargs):
            if _all_finite(loss):
                self._skips_in_a_row = 0
                return update_params(loss, *args, **kwargs)
            self._non_finite(runner, loss)
            wrapper.zero_grad()

        checked_update_params.checks_finite_loss = True
        wrapper.update_params = checked_update_params

    def _non_finite(self, runner, loss: torch.Tensor) -> None:
        where = (f'loss = {_describe(loss)} at iteration {runner.iter + 1} '
                 f'(epoch {runner.epoch + 1})')
        last = runner.message_hub.get_info('last_ckpt')
        kept = (f'the last checkpoint, {last}, is kept'
                if last else 'no checkpoint was written yet')
        advice = ('lower the learning rate, clip gradients '
                  '(optim_wrapper.clip_grad) or check the data')
        if self.on_non_finite == 'error':
            raise FloatingPointError(
                f'{where}; training stopped before this update and {kept}. '
                f"Fix: {advice}, or set NonFiniteLossHook's "
                "on_non_finite='skip' to skip such iterations")
        self._skips_in_a_row += 1
        if self._skips_in_a_row > self.max_skips_in_a_row:
            raise FloatingPointError(
                f'{where}: {self._skips_in_a_row} non-finite losses in a '
                f'row, training stopped and {kept}. Fix: {advice}')
        with torch.no_grad():
            for buffer, kept in zip(runner_model(runner).buffers(),
                                    self._buffers):
                buffer.copy_(kept)
        runner.logger.warning(f'{where}: update skipped '
                              "(NonFiniteLossHook on_non_finite='skip')")

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to write a checkpoint whose weights are not finite."""
        bad = non_finite_names(checkpoint.get('state_dict', {}))
        if bad:
            shown = ', '.join(bad[:5]) + (
                f' and {len(bad) - 5} more' if len(bad) > 5 else '')
            raise FloatingPointError(
                f'non-finite weights in {shown} after {runner.iter} '
                f'iterations (epoch {runner.epoch + 1}); this checkpoint was '
                'not written and the previous ones are kept')
