"""Networks: importing this registers every model with timm."""
from .schemes import FixedScheme, LMTrainableScheme, ZeroSLambdaScheme
from .zerosnet import CIFAR_DEPTHS, IMAGENET_LAYOUTS, MultistepBlock, MultistepResNet, zerosnet_scheme
