"""SSD-ResNet34, the MLPerf Inference "large" object detector (COCO, 1200x1200, 81 classes).

Topology of the MLPerf reference ``vision/classification_and_detection/python/models/ssd_r34.py``
(class ``SSD_R34``, strides ``[3, 3, 2, 2, 2, 2]``) and its backbone ``base_model_r34.ResNet34``:

* Backbone: torchvision ResNet-34 ``conv1`` .. ``layer3``; ``layer4``, the pooling and the FC are
  dropped, and the first block of ``layer3`` has its stride changed from 2 to 1 (3x3 ``conv1`` and
  the 1x1 downsample), so the backbone output is 256 channels at stride 8 (150x150 at 1200x1200).
* Five extra blocks, each a 1x1 then a 3x3 convolution with bias and ReLU:
  256 -(1x1 256, 3x3/2 512)-> 512 -(1x1 256, 3x3/2 512)-> 512 -(1x1 128, 3x3/2 256)-> 256
  -(1x1 128, 3x3/2 no pad)-> 256 -(1x1 128, 3x3/1 no pad)-> 256: 75, 38, 19, 9, 7 at 1200x1200.
* Heads: on each of the six sources a 3x3 ``loc`` convolution (anchors x 4) and a 3x3 ``conf``
  convolution (anchors x 81), anchors ``[4, 6, 6, 6, 4, 4]``, all with padding 1 and **stride 3**
  (``strides[0:2]``): that is what turns the 150, 75, 38, 19, 9, 7 sources into the 50x50, 25x25,
  13x13, 7x7, 3x3, 3x3 prediction grids (15,130 boxes) at 1200x1200. Head outputs are network
  outputs (streamed, not kept alive). Each source's heads are scheduled right after the source
  (the PyTorch forward runs all extra blocks first; same MACs, fewer live activations).

Counted: MACs of every convolution (backbone, extra blocks, heads); residual adds, pooling, ReLU,
box decoding and NMS have none. Batch norm is folded into one bias per output channel (the
backbone convolutions have none of their own; extra blocks and heads have their own bias).

At 1200x1200 (checked in the tests): 216,415,931,904 MACs and 19,967,606 weight elements
(19,972,534 PyTorch parameters counting the two BN affine terms of the 4,928 backbone channels).
Published: 433.411 GFLOPs and 20.058 M parameters (Open Model Zoo ``ssd-resnet34-1200-onnx``, the
MLPerf reference ONNX model; MLPerf's own tables say "433 GOPs"). MLPerf counts 2 ops per MAC (its
ResNet-50 is listed at 8.2 GOPs = 2 x 4.1 GMACs), so 433.41 GOPs = 216.71 GMACs against our
216.42: 2 x ours = 432.83 GOPs, 0.13% (0.58 GOPs) below. Ours is the convolution MACs only; the
published count adds non-MAC work (bias/BN, ReLU, residual adds, pooling): the 0.58 G remainder is
3.39 ops per convolution output element (170.9 M elements), exactly the ratio of the same zoo's
ResNet-50 (8.216 GFLOPs vs 2 x 4.089 GMACs: 0.038 G over 11.1 M elements). Same conventions, so the
convolution MACs agree.
Parameters: ours are 0.45% (90 k) below 20.058 M. Open Model Zoo counts BN-folded weights too (its
resnet-50-pytorch is 25.53 M, as ours), so the remainder is most likely non-weight constants of the
exported graph (the 15,130 x 4 default-box tensor alone is 60,520); not reconciled further.

Sides: any integer (floor convolution arithmetic, as PyTorch); the smallest side for which every
feature map is non-empty is 385 (``MIN_SIDE``); the model is trained and exported at 1200x1200.
"""

from dse.workloads.layers import LayerTable, NetBuilder, Tensor
from dse.workloads.zoo.resnet_trunk import stages, stem

NUM_CLASSES = 81  # 80 COCO classes + background
ANCHORS = (4, 6, 6, 6, 4, 4)  # default boxes per location on each of the six sources
HEAD_STRIDE = 3  # loc and conf convolutions: 3x3, padding 1, stride 3 (strides[0:2])
BACKBONE = ((64, 3, 1), (128, 4, 2), (256, 6, 1))  # ResNet-34 layer1..3: (width, blocks, stride)
# Extra blocks: (1x1 channels, 3x3 output channels, 3x3 stride, 3x3 padding)
EXTRAS = ((256, 512, 2, 1), (256, 512, 2, 1), (128, 256, 2, 1), (128, 256, 2, 0), (128, 256, 1, 0))
MIN_SIDE = 385  # below this the last, unpadded 3x3 extra convolution has an empty output


def _basic_block(b: NetBuilder, x: Tensor, width: int, stride: int, name: str) -> Tensor:
    y = b.conv(x, width, 3, stride=stride, name=f"{name}.conv1")
    y = b.conv(y, width, 3, name=f"{name}.conv2")
    if stride != 1 or x.c != width:
        x = b.conv(x, width, 1, stride=stride, pad=0, name=f"{name}.downsample")
    return b.add(y, x, name=f"{name}.add")


def _heads(b: NetBuilder, src: Tensor, anchors: int, i: int) -> None:
    b.conv(src, anchors * 4, 3, stride=HEAD_STRIDE, pad=1, name=f"loc{i}")
    b.conv(src, anchors * NUM_CLASSES, 3, stride=HEAD_STRIDE, pad=1, name=f"conf{i}")


def build(width: int = 1200, height: int = 1200) -> LayerTable:
    b = NetBuilder("ssd_resnet34", width, height)
    x = stages(b, stem(b), BACKBONE, _basic_block)
    # Each source's heads are scheduled as soon as the source exists (a valid topological order,
    # the one that minimises live activations; the PyTorch forward runs all extra blocks first).
    _heads(b, x, ANCHORS[0], 0)
    for i, (mid, out_c, stride, pad) in enumerate(EXTRAS, start=1):
        x = b.conv(x, mid, 1, pad=0, name=f"extra{i}.conv1")
        x = b.conv(x, out_c, 3, stride=stride, pad=pad, name=f"extra{i}.conv2")
        _heads(b, x, ANCHORS[i], i)
    return b.build()
