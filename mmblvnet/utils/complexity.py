"""FLOPs and parameters of a recognizer, as MMAction2's ``get_flops``.

Counted with MMEngine's fvcore-style analyzer
(:func:`mmengine.analysis.get_model_complexity_info`): one multiply-add is
one FLOP, element-wise ops (BN at inference, ReLU, TAM's scaled sums) are
not counted, and parameters are all parameters of the model. Unlike
MMAction2's tool, the forward includes the classification head, so the
numbers are those of a whole recognizer on one clip (what the papers
report).
"""
from typing import Dict, Sequence, Union

import torch
from mmaction.models import Recognizer3D
from mmengine.analysis import get_model_complexity_info
from torch import Tensor, nn


class RecognizerForward(nn.Module):
    """Inference forward of a recognizer on one view per sample.

    Args:
        recognizer (nn.Module): An MMAction2 recognizer.
    """

    def __init__(self, recognizer: nn.Module) -> None:
        super().__init__()
        self.recognizer = recognizer
        self.add_view_dim = isinstance(recognizer, Recognizer3D)

    def forward(self, inputs: Tensor) -> Union[Tensor, tuple]:
        """Args:
            inputs (torch.Tensor): Clips of shape (N, T, C, H, W) for a 2D
                recognizer or (N, C, T, H, W) for a 3D one.

        Returns:
            torch.Tensor: Class scores (N, num_classes), or the neck
            features when the recognizer has no head.
        """
        if self.add_view_dim:
            inputs = inputs.unsqueeze(1)
        stage = 'head' if self.recognizer.with_cls_head else 'neck'
        feats, _ = self.recognizer.extract_feat(
            inputs, stage=stage, test_mode=True)
        return feats


def recognizer_complexity(model: nn.Module,
                          input_shape: Sequence[int],
                          show_table: bool = False) -> Dict[str, object]:
    """FLOPs and parameters of a recognizer's inference on one input.

    Args:
        model (nn.Module): An MMAction2 recognizer; set to eval mode here.
        input_shape (Sequence[int]): (N, T, C, H, W) for a 2D recognizer
            (N clips of T frames), (N, C, T, H, W) for a 3D one.
        show_table (bool): Also build the per-module table.

    Returns:
        dict: ``flops`` and ``params`` (numbers), ``flops_str``,
        ``params_str`` and ``out_table`` (strings; the table is empty
        unless ``show_table``).
    """
    model.eval()
    device = next(model.parameters()).device
    inputs = torch.randn(*input_shape, device=device)
    info = get_model_complexity_info(
        RecognizerForward(model),
        inputs=(inputs, ),
        show_table=show_table,
        show_arch=False)
    return {
        key: info[key]
        for key in ('flops', 'params', 'flops_str', 'params_str',
                    'out_table')
    }
