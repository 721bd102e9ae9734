"""MobileNetV2 1.0 classifier (torchvision ``mobilenet_v2`` layout, 1000 ImageNet classes).

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018. A 3x3/2 stem
(32 channels), 17 inverted-residual blocks (1x1 expansion by t, 3x3 depthwise with groups ==
channels, linear 1x1 projection; the expansion is skipped when t = 1; a residual add when the
stride is 1 and input and output channels match), a 1x1 convolution to 1280, global average pooling
and a 1280 -> 1000 fully connected layer. Convolutions have no bias of their own: batch norm is
folded into one bias per output channel.

Counted: MACs of the convolutions (depthwise ones as ``dwconv``) and of the FC layer. At 224x224
that is 300,774,272 MACs, the paper's "300 M multiply-adds" and torchvision's "0.30 GFLOPS" (which
are MACs). Weight elements: 3,487,816 against torchvision's 3,504,872 parameters; the difference is
exactly 17,056 = the 17,056 batch-norm channels, whose two affine terms (scale, shift) fold into a
single bias here (0.49% fewer). Sides must be multiples of 32 (five stride-2 stages).
"""

from dse.workloads.layers import LayerTable, NetBuilder, Tensor

STEM_CHANNELS = 32
LAST_CHANNELS = 1280
NUM_CLASSES = 1000
# Inverted-residual settings: (expansion t, output channels c, repeats n, first stride s).
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))


def _inverted_residual(b: NetBuilder, x: Tensor, out_c: int, stride: int, t: int,
                       name: str) -> Tensor:
    y = x
    if t != 1:
        y = b.conv(y, x.c * t, 1, name=f"{name}.expand")
    y = b.conv(y, y.c, 3, stride=stride, groups=y.c, name=f"{name}.dw")
    y = b.conv(y, out_c, 1, name=f"{name}.project")
    if stride == 1 and x.c == out_c:
        y = b.add(x, y, name=f"{name}.add")
    return y


def build(width: int = 224, height: int = 224) -> LayerTable:
    b = NetBuilder("mobilenet_v2", width, height)
    x = b.conv(b.input(), STEM_CHANNELS, 3, stride=2, name="features.0")
    block = 1
    for t, c, n, s in SETTINGS:
        for i in range(n):
            x = _inverted_residual(b, x, c, s if i == 0 else 1, t, f"features.{block}")
            block += 1
    x = b.conv(x, LAST_CHANNELS, 1, name=f"features.{block}")
    x = b.global_pool(x, name="avgpool")
    b.fc(x, NUM_CLASSES, name="classifier")
    return b.build()
