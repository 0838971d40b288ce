"""Hardware profiles: frozen records of what a device offers, loaded and validated from YAML."""

from edgeopt.profiles.loader import available_profiles, load_profile, resolve_profile, unsourced_figures
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
