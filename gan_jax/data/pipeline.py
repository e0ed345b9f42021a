"""A deterministic, resumable, multi-process batch stream over a random-access source.

The stream is a sequence of epochs, each a fresh permutation of the source drawn from
(seed, epoch). Global batch b holds stream positions [b B, (b + 1) B); process p of P reads only
its contiguous share, so hosts read disjoint parts and together the whole global batch, and the
global batch does not depend on how many processes read it. The only state is the index of the
next global batch, saved in every checkpoint, so a resumed run sees exactly the batches it would
have seen had it never stopped.

Batches are dicts: a source's `read` gives `(examples, labels)`, which become
`{example_key: examples, 'label': labels}` (`example_key` 'image' or 'points'), or a dict of
entries of its own (paired or unpaired images, for instance), carried as they are. Every entry
is stacked and split the same way, so a global batch holds all of them.

Reading runs on grain: a `MapDataset` whose element j is the j-th training step's
(d_steps, local_batch, ...) block, read by `source.read` and prefetched by `data.workers`
threads. Elements are whole batches rather than single examples: grain's per-example path
costs ~80 us an example, which would slow the small-model experiments by a third, while a batch
of in-memory examples is one vectorised gather. Decoding files (folders, TFDS) releases the GIL
in Pillow, so the threads decode in parallel.
"""

from __future__ import annotations

import functools
import sys

import numpy as np


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(n)


class Batches:

  def __init__(self, source, *, global_batch: int, seed: int, process_index: int = 0,
               process_count: int = 1, next_batch: int = 0, workers: int = 0,
               prefetch: int = 2, example_key: str = 'image'):
    if len(source) == 0:
      raise ValueError('the dataset is empty')
    if global_batch % process_count:
      raise ValueError(f'global batch {global_batch} is not divisible by the '
                       f'{process_count} processes')
    self.source = source
    self.global_batch = global_batch
    self.local_batch = global_batch // process_count
    self.seed = seed
    self.process_index = process_index
    self.next_batch = next_batch
    self.workers = workers
    self.prefetch = prefetch
    self.example_key = example_key
    self._iterator = None
    self._iterator_at = None  # (next_batch, batches per element) the iterator continues from

  def indices(self, batch: int) -> np.ndarray:
    """Dataset indices of this process's share of global batch `batch`."""
    n = len(self.source)
    start = batch * self.global_batch + self.process_index * self.local_batch
    positions = np.arange(start, start + self.local_batch)
    out = np.empty(self.local_batch, np.int64)
    for epoch in np.unique(positions // n):
      mask = positions // n == epoch
      out[mask] = _permutation(self.seed, int(epoch), n)[positions[mask] % n]
    return out

  def read(self, first_batch: int, num_batches: int) -> dict[str, np.ndarray]:
    """Every entry of local batches [first, first + num), stacked: (num, local, ...)."""
    idx = np.concatenate([self.indices(first_batch + i) for i in range(num_batches)])
    entries = self.source.read(idx)
    if not isinstance(entries, dict):
      examples, labels = entries
      entries = {self.example_key: examples, 'label': labels}
    shape = (num_batches, self.local_batch)
    return {k: v.reshape(shape + v.shape[1:]) for k, v in entries.items()}

  def _start(self, num_batches: int):
    import grain  # lazy: importing grain takes a while, and sampling never needs it
    first = self.next_batch
    dataset = grain.MapDataset.range(0, sys.maxsize // (num_batches * self.global_batch + 1))
    dataset = dataset.map(lambda j: self.read(first + j * num_batches, num_batches))
    options = grain.ReadOptions(num_threads=self.workers, prefetch_buffer_size=self.prefetch)
    return iter(dataset.to_iter_dataset(options))

  def next(self, num_batches: int = 1) -> dict[str, np.ndarray]:
    """The next `num_batches` local batches of every entry, stacked:
    (num_batches, local_batch, ...)."""
    if self._iterator is None or self._iterator_at != (self.next_batch, num_batches):
      self._iterator = self._start(num_batches)
    batch = next(self._iterator)
    self.next_batch += num_batches
    self._iterator_at = (self.next_batch, num_batches)
    return batch

  def get_state(self) -> dict:
    return {'next_batch': int(self.next_batch), 'seed': int(self.seed),
            'global_batch': int(self.global_batch), 'num_examples': int(len(self.source))}

  def set_state(self, state: dict) -> None:
    for key in ('seed', 'global_batch', 'num_examples'):
      mine = self.get_state()[key]
      if state.get(key, mine) != mine:
        raise ValueError(f'the checkpoint\'s data stream has {key}={state[key]} but this run '
                         f'has {key}={mine}: resuming would not see the same data. '
                         'Use a fresh --workdir to change the data or batch size.')
    self.next_batch = int(state['next_batch'])
    self._iterator = None
