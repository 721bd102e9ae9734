"""VGG-19 (K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015: configuration E), the classifier whose first layers are the standard
benchmark of layer fusion (M. Alwani et al., "Fused-Layer CNN Accelerators", MICRO 2016).

Topology: five blocks of 3x3 "same" convolutions (2, 2, 4, 4, 4 of them; 64, 128, 256, 512, 512
channels), each followed by 2x2 stride-2 max pooling, then three fully connected layers (4096,
4096, 1000). Counted: MACs of the convolutions and fully connected layers; weights with one bias
per output channel: 143,667,240 at 224x224 (the paper's 144 M), 19,632,062,464 MACs
(19.6 G multiply-accumulates). The first fully connected layer takes the flattened last feature
map, so its size follows the input resolution (sides must be multiples of 32).
"""

from dse.workloads.layers import LayerTable, NetBuilder

IN_CHANNELS = 3
NUM_CLASSES = 1000
#: (convolutions, channels) of the five blocks of configuration E
BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))
FC_FEATURES = (4096, 4096)


def build_prefix(convs: int, width: int = 224, height: int = 224) -> LayerTable:
    """The first ``convs`` convolutions of VGG-19 with the pooling layers between them (the
    network Alwani et al. fuse: ``convs = 5`` is conv1_1 .. conv3_1 with pool1 and pool2)."""
    b = NetBuilder(f"vgg19_first{convs}", width, height, channels=IN_CHANNELS)
    x = b.input()
    done = 0
    for block, (n, ch) in enumerate(BLOCKS, start=1):
        for i in range(1, n + 1):
            if done == convs:
                return b.build()
            x = b.conv(x, ch, 3, name=f"conv{block}_{i}")
            done += 1
        if done == convs:
            return b.build()
        x = b.pool(x, 2, 2, name=f"pool{block}")
    return b.build()


def build(width: int = 224, height: int = 224) -> LayerTable:
    b = NetBuilder("vgg19", width, height, channels=IN_CHANNELS)
    x = b.input()
    for block, (n, ch) in enumerate(BLOCKS, start=1):
        for i in range(1, n + 1):
            x = b.conv(x, ch, 3, name=f"conv{block}_{i}")
        x = b.pool(x, 2, 2, name=f"pool{block}")
    for i, features in enumerate(FC_FEATURES, start=6):
        x = b.fc(x, features, name=f"fc{i}")
    b.fc(x, NUM_CLASSES, name="fc8")
    return b.build()
