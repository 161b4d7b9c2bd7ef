"""The paper's ablations as experiments anyone can rerun (``alexnet experiment NAME``).

- :mod:`.ablations`: the switches (activation, lrn, pooling, towers, dropout, augmentation),
  their variants and the paper's figures;
- :data:`alexnet.recipes.PRESETS`: smoke / cpu / gpu sizes and whether they fit the data;
- :mod:`.grid`: variants × seeds, each a resumable training run; ``run_experiment``;
- :mod:`.report`: results.json, results.md (the paper beside each result), the curves figure.

    from alexnet.experiment import run_experiment
    result = run_experiment("activation", preset="cpu", seeds=1)
"""

from .ablations import ABLATIONS, NAMES
from ..recipes import PRESETS
from .grid import run_experiment, steps_to_target, target_train_error

__all__ = ["ABLATIONS", "NAMES", "PRESETS", "run_experiment", "steps_to_target", "target_train_error"]
