"""`edgeopt space show`: a search space's size, what applies to the data, and what fits each profile."""

from __future__ import annotations

import click

from edgeopt.cli.common import EdgeoptGroup, console, emit_json
from edgeopt.data.loading import load_dataset
from edgeopt.profiles.loader import load_profile
from edgeopt.report.tables import render_space_survey
from edgeopt.search.settings import DEFAULT_EXAMPLE
from edgeopt.space.union import load_space
from edgeopt.space.survey import survey


@click.group(cls=EdgeoptGroup)
def space() -> None:
    """Inspect search spaces."""


@space.command("show")
@click.argument("space_file")
@click.option("--profile", "-p", "profiles", multiple=True, help="Profile(s) to cost the samples on.")
@click.option("--data", "-d", default=None, help="Dataset fixing the input shape (default: the bundled example).")
@click.option("--label", "label_column", default=None, help="Label column of a CSV dataset (default: label).")
@click.option("--samples", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def space_show(space_file: str, profiles, data, label_column, samples: int, seed: int, as_json: bool) -> None:
    """Size of SPACE_FILE, the share of its configurations that apply to the data's samples, a few sampled
    configurations with their cost, and the share that fits each profile."""
    loaded = load_space(space_file)
    dataset = load_dataset(data, label_column=label_column, example=DEFAULT_EXAMPLE[loaded.families[0]])
    result = survey(loaded, dataset.sample_shape, dataset.num_classes, [load_profile(p) for p in profiles],
                    samples=samples, seed=seed)
    if as_json:
        emit_json(result.to_dict())
        return
    render_space_survey(result, console())
