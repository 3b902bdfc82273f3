from .blresnet import bLResNet

__all__ = ['bLResNet']
