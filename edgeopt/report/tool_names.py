"""The names of the lab's own tools that reports fit as baselines, and the `--baselines` choice: light, so the CLI
reads them without importing scikit-learn or torch."""

from __future__ import annotations

from edgeopt.errors import EdgeoptError

LAB_TOOLS = ("logistic", "tree", "forest", "boosting")
TOOL_LABELS = {"logistic": "logistic regression", "tree": "decision tree", "forest": "random forest",
               "boosting": "gradient boosting", "fitted_tree": "decision tree sized to fit"}


class BaselineError(EdgeoptError):
    """A --baselines choice that names no lab tool."""


def parse_baselines(text: str) -> tuple[str, ...]:
    """`all`, `none`, or a comma-separated list of lab tools; an unknown name is one error listing the valid ones."""
    words = [w.strip().lower() for w in str(text).split(",") if w.strip()]
    if words == ["all"]:
        return LAB_TOOLS
    if words == ["none"]:
        return ()
    unknown = [w for w in words if w not in LAB_TOOLS]
    if unknown or not words:
        what = "unknown " + ", ".join(map(repr, unknown)) if unknown else "empty"
        raise BaselineError(f"--baselines {text!r}: {what}; give all, none, or a comma-separated list of "
                            f"{', '.join(LAB_TOOLS)}")
    return tuple(t for t in LAB_TOOLS if t in words)


__all__ = ["LAB_TOOLS", "TOOL_LABELS", "BaselineError", "parse_baselines"]
