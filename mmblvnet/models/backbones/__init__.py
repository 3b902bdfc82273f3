from .blresnet import bLResNet
from .resnet_tam import ResNetTAM

__all__ = ['bLResNet', 'ResNetTAM']
