"""YOLOv3 with the topology of darknet's ``cfg/yolov3.cfg`` (Redmon & Farhadi, 2018).

Darknet-53 backbone (residual shortcuts), three detection heads at strides 32, 16 and 8 joined by
route (concat) and 2x upsample layers, 80 classes (255 = 3 x (80 + 5) output channels per head).
Batch norm is folded into one bias per output channel; the three linear 1x1 head convolutions have
their own bias. Darknet prints BFLOPs = 2 x MACs of the convolutions: 38.97 at 320x320, 65.86 at
416x416, 140.69 at 608x608 (checked in the tests). Sides must be multiples of 32.
"""

from dse.workloads.layers import LayerTable, NetBuilder, Tensor

NUM_CLASSES = 80
ANCHORS_PER_SCALE = 3
HEAD_CHANNELS = ANCHORS_PER_SCALE * (NUM_CLASSES + 5)
DARKNET53_STAGES = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))  # (channels, residuals)


def _residual(b: NetBuilder, x: Tensor, name: str) -> Tensor:
    y = b.conv(x, x.c // 2, 1, name=f"{name}.conv1")
    y = b.conv(y, x.c, 3, name=f"{name}.conv2")
    return b.add(x, y, name=f"{name}.shortcut")


def _head_block(b: NetBuilder, x: Tensor, ch: int, name: str) -> tuple[Tensor, Tensor]:
    """Five alternating 1x1/3x3 convolutions (the route source), then the 3x3 + linear 1x1 output."""
    for i in range(2):
        x = b.conv(x, ch, 1, name=f"{name}.conv{2 * i + 1}")
        x = b.conv(x, ch * 2, 3, name=f"{name}.conv{2 * i + 2}")
    route = b.conv(x, ch, 1, name=f"{name}.conv5")
    y = b.conv(route, ch * 2, 3, name=f"{name}.conv6")
    b.conv(y, HEAD_CHANNELS, 1, name=f"{name}.detect")
    return route, y


def build(width: int = 608, height: int = 608) -> LayerTable:
    b = NetBuilder("yolov3", width, height)
    x = b.conv(b.input(), 32, 3, name="conv0")
    taps = []
    for stage, (ch, residuals) in enumerate(DARKNET53_STAGES, start=1):
        x = b.conv(x, ch, 3, stride=2, name=f"stage{stage}.down")
        for i in range(residuals):
            x = _residual(b, x, f"stage{stage}.res{i}")
        taps.append(x)
    route, _ = _head_block(b, x, 512, "head32")
    for ch, tap, name in ((256, taps[3], "head16"), (128, taps[2], "head8")):
        y = b.conv(route, ch, 1, name=f"{name}.reduce")
        y = b.upsample(y, 2, name=f"{name}.upsample")
        y = b.concat([y, tap], name=f"{name}.route")
        route, _ = _head_block(b, y, ch, name)
    return b.build()
