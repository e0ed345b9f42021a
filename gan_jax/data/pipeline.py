"""A deterministic, resumable batch stream over an in-memory dataset.

The stream is a sequence of epochs, each a fresh permutation drawn from (seed, epoch). Global
batch b holds stream positions [b B, (b + 1) B); process p of P takes its contiguous share, so
hosts read disjoint parts and together the whole global batch. The only state is the index of
the next batch, saved in every checkpoint, so a resumed run sees exactly the batches it would
have seen had it never stopped.
"""

from __future__ import annotations

import numpy as np


class Batches:

  def __init__(self, examples: np.ndarray, *, global_batch: int, seed: int,
               process_index: int = 0, process_count: int = 1, next_batch: int = 0):
    if len(examples) == 0:
      raise ValueError('the dataset is empty')
    if global_batch % process_count:
      raise ValueError(f'global batch {global_batch} is not divisible by the '
                       f'{process_count} processes')
    self.examples = examples
    self.global_batch = global_batch
    self.local_batch = global_batch // process_count
    self.seed = seed
    self.process_index = process_index
    self.next_batch = next_batch
    self._perm_epoch = -1
    self._perm = None

  def _permutation(self, epoch: int) -> np.ndarray:
    if epoch != self._perm_epoch:
      self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.examples))
      self._perm_epoch = epoch
    return self._perm

  def indices(self, batch: int) -> np.ndarray:
    """Dataset indices of this process's share of global batch `batch`."""
    n = len(self.examples)
    start = batch * self.global_batch + self.process_index * self.local_batch
    positions = np.arange(start, start + self.local_batch)
    out = np.empty(self.local_batch, np.int64)
    for epoch in np.unique(positions // n):
      mask = positions // n == epoch
      out[mask] = self._permutation(int(epoch))[positions[mask] % n]
    return out

  def next(self, num_batches: int = 1) -> np.ndarray:
    """The next `num_batches` local batches, stacked: (num_batches, local_batch, ...)."""
    idx = np.stack([self.indices(self.next_batch + i) for i in range(num_batches)])
    self.next_batch += num_batches
    return self.examples[idx]

  def get_state(self) -> dict:
    return {'next_batch': int(self.next_batch), 'seed': int(self.seed),
            'global_batch': int(self.global_batch), 'num_examples': int(len(self.examples))}

  def set_state(self, state: dict) -> None:
    for key in ('seed', 'global_batch', 'num_examples'):
      mine = self.get_state()[key]
      if state.get(key, mine) != mine:
        raise ValueError(f'the checkpoint\'s data stream has {key}={state[key]} but this run '
                         f'has {key}={mine}: resuming would not see the same data. '
                         'Use a fresh --workdir to change the data or batch size.')
    self.next_batch = int(state['next_batch'])
