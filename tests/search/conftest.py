import textwrap

import pytest

TINY = """\
name: tiny
family: cnn1d
architecture:
  blocks: 1
  channels: [2, 4, 6]
  kernel_size: [3, 5]
  stride: [2, 4]
  pooling: [max, avg]
training:
  lr: {float: [0.005, 0.03], log: true}
  batch_size: [64, 128]
  epochs: 3
  min_steps: 1  # epochs as written: these tests count rungs in passes over the data
"""


@pytest.fixture()
def tiny_space(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


@pytest.fixture()
def tight_profile(tmp_path):
    """The sequencer FPGA with a parameter budget that about half of the tiny space breaks."""
    path = tmp_path / "fpga-tight.yaml"
    path.write_text(textwrap.dedent("""\
        extends: sequencer-fpga
        name: fpga-tight
        budgets: {max_params: 35}
        """))
    return str(path)
