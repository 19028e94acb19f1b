"""torch.hub entry points: every model zerosnet_zoo registers with timm.

    model = torch.hub.load('<github-org>/<repo>', 'zerosnet_opt_56', pretrained=False, num_classes=100)

Keyword arguments go to ``timm.create_model`` unchanged (``lam=``, ``coefficients=``,
``num_classes=``, ``features_only=``, ...).
"""

dependencies = ['torch', 'torchvision', 'timm', 'safetensors', 'huggingface_hub', 'numpy']

import timm as _timm
from timm.models import model_entrypoint as _model_entrypoint

import zerosnet_zoo as _zerosnet_zoo  # noqa: F401  (registers the models)


def _entry(name: str):
    def entry(pretrained: bool = False, **kwargs):
        return _timm.create_model(name, pretrained=pretrained, **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = (f'{_model_entrypoint(name).__doc__}\n\n'
                     f"Same as timm.create_model('{name}', pretrained=pretrained, **kwargs).")
    return entry


for _name in _timm.list_models(module='zerosnet'):
    globals()[_name] = _entry(_name)
