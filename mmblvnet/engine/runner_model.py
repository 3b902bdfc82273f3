"""The model a hook works on, and its per-rank BatchNorm statistics.

With MMEngine's ``broadcast_buffers=False`` each rank keeps its own
running statistics until ``SyncBuffersHook`` averages them at the epoch's
end, and rank 0 writes only its own: resumed mid-epoch, every rank would
start from rank 0's. :func:`gather_rank_buffers` (all ranks, before a
save) and :func:`use_own_rank_buffers` (each rank, after a load) keep
them apart.
"""
from typing import List, Optional

import torch
from mmengine.dist import all_gather, get_rank, get_world_size
from mmengine.model import is_model_wrapper
from torch import nn


def runner_model(runner) -> nn.Module:
    """``runner.model``, unwrapped if MMEngine wrapped it for distributed
    training (the wrapper's ``module``)."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def _float_buffers(model: nn.Module) -> dict:
    """The model's floating-point buffers by state-dict name."""
    buffers = dict(model.named_buffers())
    return {name: value for name, value in model.state_dict().items()
            if name in buffers and value.is_floating_point()}


def gather_rank_buffers(model: nn.Module) -> Optional[List[torch.Tensor]]:
    """Every rank's floating-point buffers, one flat tensor per rank (a
    collective call: all ranks must make it); None outside a distributed
    run."""
    if get_world_size() == 1:
        return None
    buffers = _float_buffers(model)
    if not buffers:
        return None
    flat = torch.cat([value.detach().flatten() for value in buffers.values()])
    return [tensor.cpu() for tensor in all_gather(flat)]


def use_own_rank_buffers(model: nn.Module, checkpoint: dict) -> None:
    """Put this rank's buffers (saved by :func:`gather_rank_buffers` in
    ``meta.rank_buffers``) into the checkpoint's state dict before it is
    loaded; nothing changes for another world size or model."""
    saved = checkpoint.get('meta', {}).get('rank_buffers')
    state_dict = checkpoint.get('state_dict')
    if saved is None or state_dict is None or len(saved) != get_world_size():
        return
    buffers = _float_buffers(model)
    mine = saved[get_rank()]
    if mine.numel() != sum(value.numel() for value in buffers.values()):
        return
    for (name, value), part in zip(
            buffers.items(), mine.split([v.numel() for v in
                                         buffers.values()])):
        if name in state_dict:
            state_dict[name] = part.view_as(value).to(state_dict[name])
