"""Design files of real chips (``*.toml`` in this directory), in the design-space vocabulary.

Each file is a design file (see :mod:`dse.hardware.designs`) whose header comment documents the
mapping, the chip-specific ``[technology]`` overrides with their derivation, and what is left out.
"""

from __future__ import annotations

from importlib import resources

from dse.errors import UserError
from dse.hardware.designs import DesignBatch, parse_design_mapping
from dse.hardware.technology import Technology

#: Preset names (file stems), sorted.
PRESETS = tuple(sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml")))


def preset_path(name: str):
    """The preset's TOML file (a Traversable); names are case-insensitive (``T4``). UserError
    listing the presets for unknown names."""
    name = str(name).strip().lower()
    if name not in PRESETS:
        raise UserError(f"preset: {name!r} is not a preset (allowed: {', '.join(PRESETS)})")
    return resources.files(__name__) / f"{name}.toml"


def load_preset(name: str) -> tuple[DesignBatch, Technology]:
    """(DesignBatch of 1, Technology with the preset's overrides) for preset ``name`` (any case)."""
    import tomllib

    name = str(name).strip().lower()
    with preset_path(name).open("rb") as fh:
        doc = tomllib.load(fh)
    return parse_design_mapping(doc, where=f"preset {name}: ")
