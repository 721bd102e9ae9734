"""The built-in networks and workload names (``NAME`` or ``NAME@WIDTHxHEIGHT``).

A workload name is used the same way everywhere: CLI, study files and the Python API.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache

from dse.errors import UserError
from dse.workloads.layers import LayerTable
from dse.workloads.names import MAX_SIDE_PX, MIN_SIDE_PX, NAME_RE, is_onnx_workload, parse_resolution


@dataclass(frozen=True)
class NetworkInfo:
    """A built-in network: its builder module, default resolution and side constraint."""

    name: str
    module: str
    default_width: int
    default_height: int
    side_multiple: int  # every input side must be a multiple of this (pixels)
    min_side: int  # smallest side the topology supports (pixels)
    description: str


NETWORKS: dict[str, NetworkInfo] = {
    n.name: n
    for n in (
        NetworkInfo("resnet50", "dse.workloads.zoo.resnet50", 224, 224, 1, 32,
                    "ResNet-50 v1.5 classifier (torchvision)"),
        NetworkInfo("yolov3", "dse.workloads.zoo.yolov3", 608, 608, 32, 64,
                    "YOLOv3 detector (darknet yolov3.cfg, 80 classes)"),
        NetworkInfo("ssd_resnet34", "dse.workloads.zoo.ssd_resnet34", 1200, 1200, 1, 385,
                    "SSD-ResNet34 detector (MLPerf Inference large)"),
        NetworkInfo("mobilenet_v2", "dse.workloads.zoo.mobilenet_v2", 224, 224, 32, 32,
                    "MobileNetV2 1.0 classifier (depthwise separable)"),
        NetworkInfo("unet", "dse.workloads.zoo.unet", 1024, 1024, 16, 32,
                    "U-Net segmentation (Ronneberger 2015, padded convs)"),
        NetworkInfo("vgg19", "dse.workloads.zoo.vgg19", 224, 224, 32, 32,
                    "VGG-19 classifier (Simonyan 2015, configuration E)"),
    )
}

def available_networks() -> list[str]:
    return [name for name, info in NETWORKS.items() if importlib.util.find_spec(info.module)]


def parse_workload(text: str, field: str = "workload") -> tuple[str, int, int]:
    """Parse ``NAME`` or ``NAME@WIDTHxHEIGHT`` and check it; returns (name, width, height)."""
    m = NAME_RE.match(str(text).strip())
    names = ", ".join(available_networks())
    if not m:
        raise UserError(f"{field}: {text!r} is not NAME or NAME@WIDTHxHEIGHT (networks: {names})")
    name = m["name"].lower()
    if name not in NETWORKS or name not in available_networks():
        raise UserError(f"{field}: unknown network {m['name']!r} (allowed: {names})")
    info = NETWORKS[name]
    if m["res"] is None:
        return name, info.default_width, info.default_height
    width, height = parse_resolution(m["res"], field)
    check_resolution(info, width, height, field)
    return name, width, height


def check_resolution(info: NetworkInfo, width: int, height: int, field: str = "workload") -> None:
    low = max(MIN_SIDE_PX, info.min_side)
    for side, value in (("width", width), ("height", height)):
        if not low <= value <= MAX_SIDE_PX:
            raise UserError(f"{field}: {info.name} {side} {value} px is outside {low}..{MAX_SIDE_PX}")
        if value % info.side_multiple:
            raise UserError(
                f"{field}: {info.name} {side} {value} px must be a multiple of {info.side_multiple}"
                f" (e.g. {info.name}@{_round_to(width, info.side_multiple)}x{_round_to(height, info.side_multiple)})"
            )


def _round_to(value: int, multiple: int) -> int:
    return max(multiple, -(-value // multiple) * multiple)


@lru_cache(maxsize=64)
def _build(name: str, width: int, height: int) -> LayerTable:
    return importlib.import_module(NETWORKS[name].module).build(width, height)


def load_workload(text: str, field: str = "workload") -> LayerTable:
    """The layer table of a workload: a built-in name (``yolov3@1920x1088``) or an ONNX file
    (``/path/net.onnx@1920x1080``); cached, do not mutate."""
    if is_onnx_workload(text):
        from dse.workloads.onnx_import import load_onnx_workload, parse_onnx_spec

        path, width, height = parse_onnx_spec(text, field)
        return load_onnx_workload(path, None if width is None else f"{width}x{height}", field=field)
    name, width, height = parse_workload(text, field)
    return _build(name, width, height)
