"""U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015), padded variant for megapixel RGB segmentation.

Variant (chosen and fixed here):

* The original topology: four encoder levels of two 3x3 convolutions + ReLU (64, 128, 256, 512
  channels) each followed by 2x2/2 max pooling, a 1024-channel bottleneck of two 3x3 convolutions,
  four decoder levels of a 2x2 "up-convolution" that halves the channels, a concatenation with the
  encoder feature map of the same level (the skip: it stays alive from the encoder to the decoder),
  and two 3x3 convolutions; a final 1x1 convolution to 2 classes (the paper's 2 output classes).
* Padded ("same") 3x3 convolutions instead of the paper's unpadded ones, so the output has the input
  size and no cropping is needed (the common PyTorch re-implementation, e.g. milesial/Pytorch-UNet
  with ``bilinear=False``). Sides must therefore be multiples of 16 (four 2x2 poolings).
* 3 input channels (RGB images; the paper used 1-channel microscopy: 1,152 more weights here).
* The up-convolution is a 2x2, stride-2 transposed convolution (the paper's Caffe ``Deconvolution``
  layer): every input pixel scatters a 2x2 x out_c patch, so it costs
  ``in_h * in_w * 4 * in_c * out_c = out_h * out_w * in_c * out_c`` MACs (each output pixel sees
  exactly one input pixel through one of the four kernel taps) and has ``4 * in_c * out_c + out_c``
  weights. It is one ``conv`` row with kernel 2x2, stride 2 and ``out_h = 2 * in_h`` (the only conv
  rows whose output is larger than their input); modelling it as a nearest upsample followed by a
  dense 2x2 convolution would count 4x the MACs and is not what the network computes.

Counted: MACs of all convolutions and up-convolutions; pooling and concatenation have none. Batch
norm (absent in the paper, present in many re-implementations) is folded: one bias per output
channel. MACs are exactly 735,040 per input pixel (any multiple-of-16 size): 770,745,303,040 at
1024x1024. Weight elements: 31,031,810, the paper's "31 M" (the 1-channel original has 31,030,658;
milesial/Pytorch-UNet with unfolded BN and bias-free convolutions has 31,037,698 = ours + the 5,888
BN channels). There is no published MAC figure for this padded variant; the tests derive it by hand.
"""

from dse.workloads.layers import LayerTable, NetBuilder, Tensor

IN_CHANNELS = 3  # RGB
NUM_CLASSES = 2
LEVELS = (64, 128, 256, 512)  # encoder channels per level; the bottleneck has 2 x the last
SIDE_MULTIPLE = 2 ** len(LEVELS)


def _double_conv(b: NetBuilder, x: Tensor, ch: int, name: str) -> Tensor:
    x = b.conv(x, ch, 3, name=f"{name}.conv1")
    return b.conv(x, ch, 3, name=f"{name}.conv2")


def _up_conv(b: NetBuilder, x: Tensor, out_c: int, name: str) -> Tensor:
    """2x2 stride-2 transposed convolution (exact MACs and weights; see the module docstring)."""
    return b.conv_transpose2x2(x, out_c, name=name)


def build(width: int = 1024, height: int = 1024) -> LayerTable:
    if width % SIDE_MULTIPLE or height % SIDE_MULTIPLE:
        raise ValueError(f"unet: sides {width}x{height} must be multiples of {SIDE_MULTIPLE}")
    b = NetBuilder("unet", width, height, channels=IN_CHANNELS)
    x = b.input()
    skips = []
    for level, ch in enumerate(LEVELS, start=1):
        x = _double_conv(b, x, ch, f"down{level}")
        skips.append(x)
        x = b.pool(x, 2, 2, name=f"down{level}.pool")
    x = _double_conv(b, x, 2 * LEVELS[-1], "bottleneck")
    for level, (ch, skip) in enumerate(zip(reversed(LEVELS), reversed(skips)), start=1):
        x = _up_conv(b, x, ch, f"up{level}.upconv")
        x = b.concat([skip, x], name=f"up{level}.concat")
        x = _double_conv(b, x, ch, f"up{level}")
    b.conv(x, NUM_CLASSES, 1, name="outc")
    return b.build()
