"""Crossbar tiles a layer's weight matrix occupies on an in-memory accelerator."""

from __future__ import annotations

from edgeopt.graph.ir import WeightMatrix
from edgeopt.profiles.schema import Crossbar


def tile_share(matrix: WeightMatrix, crossbar: Crossbar) -> float:
    """Tiles (fractional) a layer occupies, counting the cells it blocks: compilers pack several small layers per tile,
    so the sum over layers, rounded up, is the tile count of a perfect packing (a lower bound).

    A group that fits in one tile is packed block-diagonally with its siblings (depthwise filters), and the cells off
    the diagonal are blocked too, since their rows and columns are taken. Larger matrices are cut into blocks.
    """
    cells = crossbar.rows * crossbar.cols
    if matrix.rows <= crossbar.rows and matrix.cols <= crossbar.cols:
        per_band = min(crossbar.rows // matrix.rows, crossbar.cols // matrix.cols)
        full_bands, rest = divmod(matrix.groups, per_band)
        band = (per_band * matrix.rows) * (per_band * matrix.cols)
        return (full_bands * band + (rest * matrix.rows) * (rest * matrix.cols)) / cells
    return matrix.groups * matrix.rows * matrix.cols / cells
