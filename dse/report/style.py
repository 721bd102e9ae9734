"""One colour and marker per role, shared by the static figures and the interactive views.

Roles: the recommended design, the front's best design on each objective (``best:J``), each
workload (by its position in the study), what bounds a layer, and budgets. Colours are from the
Okabe-Ito palette (distinguishable with the common colour-vision deficiencies); a role keeps its
colour in every figure, and no two roles share one.
"""

from __future__ import annotations

#: design roles (see :class:`dse.report.analysis.Chosen`): (colour, matplotlib marker, Plotly symbol)
ROLE_STYLE = {
    "recommended": ("#D55E00", "*", "star"),
    "best:0": ("#0072B2", "^", "triangle-up"),
    "best:1": ("#009E73", "s", "square"),
    "best:2": ("#CC79A7", "D", "diamond"),
    "best:3": ("#8C564B", "v", "triangle-down"),
    "alternative": ("#E69F00", "o", "circle"),
}
#: workloads by position in the study (proxy figures, batch sweeps): never a design-role colour
WORKLOAD_COLORS = ("#332288", "#88CCEE", "#44AA99", "#999933", "#882255", "#AA4499")
WORKLOAD_MARKERS = ("o", "P", "X", "h", "p", "8")
#: what bounds a layer
BOUND_COLORS = {"compute": "#4C72B0", "sram": "#55A868", "interconnect": "#8172B2", "dram": "#C44E52",
                "overhead": "#A0A0A0"}
BOUND_LABELS = {"compute": "compute", "sram": "SRAM", "interconnect": "interconnect", "dram": "DRAM",
                "overhead": "per-layer overhead"}
#: depth-first stacks in per-layer figures: shaded spans, alternating so adjacent stacks stay apart
FUSED_SHADES = ("#FBE3B8", "#F2C98A")
FUSED_TEXT_COLOR = "#8A5A00"
BUDGET_COLOR = "#000000"  # budgets: black dashed lines; over-budget points: hollow black rings
FRONT_COLOR = "#000000"
INFEASIBLE_COLOR = "#BBBBBB"
CMAP = "viridis"


def role_color(key: str) -> str:
    return ROLE_STYLE.get(key, ROLE_STYLE["alternative"])[0]


def role_marker(key: str) -> str:
    return ROLE_STYLE.get(key, ROLE_STYLE["alternative"])[1]


def role_symbol(key: str) -> str:
    return ROLE_STYLE.get(key, ROLE_STYLE["alternative"])[2]


def workload_color(i: int) -> str:
    return WORKLOAD_COLORS[i % len(WORKLOAD_COLORS)]


def workload_marker(i: int) -> str:
    return WORKLOAD_MARKERS[i % len(WORKLOAD_MARKERS)]
