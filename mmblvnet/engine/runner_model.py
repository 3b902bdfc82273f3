"""The model a hook works on: the runner's, without a DDP/FSDP wrapper."""
from mmengine.model import is_model_wrapper
from torch import nn


def runner_model(runner) -> nn.Module:
    """``runner.model``, unwrapped if MMEngine wrapped it for distributed
    training (the wrapper's ``module``)."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model
