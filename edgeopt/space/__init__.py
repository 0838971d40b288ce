"""Search spaces: declarative YAML -> distributions; model families that build nn.Modules from configs."""

from edgeopt.space.families import FAMILIES
from edgeopt.space.spec import SearchSpace, SpaceError
from edgeopt.space.union import SpaceUnion, load_space

__all__ = ["FAMILIES", "SearchSpace", "SpaceError", "SpaceUnion", "load_space"]
