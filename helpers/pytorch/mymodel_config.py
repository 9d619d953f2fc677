"""MyModel's shipped recipe as numbers, in a module that imports no torch.

The registry gives the command lines their defaults before torch is loaded (``python -m helpers.train --help``
answers at once); the network and the recipe read the same numbers from here.

- ``MYMODEL_WIDTHS``: the widths of ``MyModel``'s three convolution groups (airbench95's).
- ``MYMODEL_VAL_SIZE``: the part of the training images the shipped run keeps back to watch its validation accuracy.
- ``FastConfig``: the hyperparameters of ``helpers.pytorch.mymodel_recipe.train_mymodel``; its defaults are
  the shipped recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

MYMODEL_WIDTHS = (128, 384, 384)
# The recipe was chosen on 45,000 training images against 5,000 (benchmarks/mymodel_time_to_accuracy.py); the shipped
# run trains on 49,000 and keeps 1,000 to watch (CS231n's split): at equal steps more images bought more accuracy.
MYMODEL_VAL_SIZE = 0.02


@dataclass
class FastConfig:
    """Hyperparameters of ``train_mymodel`` (defaults: the shipped MyModel recipe).

    lr and weight_decay are per 1024 examples, decoupled from batch size and
    momentum as in airbench: the SGD learning rate is
    ``lr / (1024 * (1 + 1 / (1 - momentum)))`` on a loss *summed* over the batch.
    muon_lr is no such rate: it is the step of each filter bank relative to its
    norm, whatever the batch size and the loss (``mymodel_recipe.Muon``). With
    muon_lr > 0 (the shipped recipe) lr and weight_decay apply to the rest (the
    biases and the classifier); with muon_lr 0 the filters take SGD's step too.
    """

    epochs: float = 7.0
    batch_size: int = 512
    lr: float = 10.0
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    whiten_bias_epochs: int = 3
    translate: int = 2
    flip: bool = True
    warmup: float = 0.23          # fraction of the steps spent warming up
    lr_end: float = 0.07          # the learning rates' factor at the last step (the peak is 1)
    lookahead: bool = True
    bf16: bool | None = None      # bfloat16 autocast in the training steps; None: where it is fast (bf16_is_fast)
    muon_lr: float = 0.12         # > 0: the convolution filters take orthogonalised steps of this size (Muon);
                                  # 0: they take the SGD step of the rest
    muon_momentum: float = 0.6    # Muon's Nesterov momentum (airbench94_muon's)
    seed: int = 0
