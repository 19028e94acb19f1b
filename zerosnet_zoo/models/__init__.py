"""Networks: importing this registers every model with timm."""
from .multistep import MultistepBlock, MultistepResNet
from .schemes import FixedScheme, LMTrainableScheme, ZeroSLambdaScheme
from .zerosnet import CIFAR_DEPTHS, IMAGENET_LAYOUTS, zerosnet_scheme
