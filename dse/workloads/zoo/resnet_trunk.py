"""The ResNet trunk shared by ResNet-50 and SSD-ResNet34: the 7x7 stem and the residual stages."""

from collections.abc import Callable

from dse.workloads.layers import NetBuilder, Tensor

#: A residual block builder: (builder, input, width, stride, name) -> output.
Block = Callable[[NetBuilder, Tensor, int, int, str], Tensor]


def stem(b: NetBuilder) -> Tensor:
    """conv1 7x7/2 with 64 channels, then a 3x3/2 max pool (He et al. 2016)."""
    x = b.conv(b.input(), 64, 7, stride=2, pad=3, name="conv1")
    return b.pool(x, 3, 2, pad=1, name="maxpool")


def stages(b: NetBuilder, x: Tensor, config, block: Block) -> Tensor:
    """Residual stages ``layer1..layerN`` from (width, blocks, first stride) tuples."""
    for stage, (width, blocks, stride) in enumerate(config, start=1):
        for i in range(blocks):
            x = block(b, x, width, stride if i == 0 else 1, f"layer{stage}.{i}")
    return x
