"""Hardware profiles: frozen records of what a device offers, loaded and validated from YAML."""

from edgeopt.profiles.loader import load_profile, unsourced_figures
from edgeopt.profiles.search_path import available_profiles, resolve_profile
from edgeopt.profiles.schema import (
    Budgets,
    Compute,
    Crossbar,
    Energy,
    HardwareProfile,
    MemoryLevel,
    Quantization,
)

__all__ = [
    "Budgets",
    "Compute",
    "Crossbar",
    "Energy",
    "HardwareProfile",
    "MemoryLevel",
    "Quantization",
    "available_profiles",
    "load_profile",
    "resolve_profile",
    "unsourced_figures",
]
