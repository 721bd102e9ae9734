"""ResNet-50 v1.5 (torchvision layout: stride on the 3x3 convolution of each bottleneck).

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016; torchvision ``resnet50``
(25,557,032 parameters with batch-norm affine terms, 4.09 GMACs at 224x224). Batch norm is folded
into one bias per output channel, so weight elements here are 25.53 M (0.1% below torchvision).
"""

from dse.workloads.layers import LayerTable, NetBuilder, Tensor
from dse.workloads.zoo.resnet_trunk import stages, stem

STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (width, blocks, first stride)
EXPANSION = 4
NUM_CLASSES = 1000


def _bottleneck(b: NetBuilder, x: Tensor, width: int, stride: int, name: str) -> Tensor:
    out_c = width * EXPANSION
    y = b.conv(x, width, 1, name=f"{name}.conv1")
    y = b.conv(y, width, 3, stride=stride, name=f"{name}.conv2")
    y = b.conv(y, out_c, 1, name=f"{name}.conv3")
    if stride != 1 or x.c != out_c:
        x = b.conv(x, out_c, 1, stride=stride, pad=0, name=f"{name}.downsample")
    return b.add(y, x, name=f"{name}.add")


def build(width: int = 224, height: int = 224) -> LayerTable:
    b = NetBuilder("resnet50", width, height)
    x = stages(b, stem(b), STAGES, _bottleneck)
    x = b.global_pool(x, name="avgpool")
    b.fc(x, NUM_CLASSES, name="fc")
    return b.build()
