"""zerosnet_zoo: ZeroSNet (Chen, Jin, Shang, AAAI 2022) for timm and torch.hub.

``import zerosnet_zoo`` registers every model with timm, so that
``timm.create_model('zerosnet_opt_56')`` works.
"""
from . import stability
from .models.convert import convert_reference_state_dict
from .models import MultistepResNet
from .stability import ZeroStabilityWarning

__version__ = '0.1.0'
__all__ = ['stability', 'convert_reference_state_dict', 'MultistepResNet', 'ZeroStabilityWarning']
