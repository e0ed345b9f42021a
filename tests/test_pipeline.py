"""The in-memory batch stream: deterministic, resumable, split between processes."""

import numpy as np
import pytest

from gan_jax.data import pipeline, sources, toy


def _examples(n=10):
  return sources.ArraySource(np.arange(n, dtype=np.float32)[:, None])


def test_each_epoch_is_a_permutation_and_epochs_differ():
  b = pipeline.Batches(_examples(10), global_batch=5, seed=3)
  epoch1 = np.concatenate([b.indices(0), b.indices(1)])
  epoch2 = np.concatenate([b.indices(2), b.indices(3)])
  assert sorted(epoch1) == sorted(epoch2) == list(range(10))
  assert not np.array_equal(epoch1, epoch2)


def test_batches_straddle_epochs():
  b = pipeline.Batches(_examples(10), global_batch=4, seed=0)
  stream = np.concatenate([b.indices(i) for i in range(5)])  # 20 positions = 2 epochs
  assert sorted(stream[:10]) == sorted(stream[10:]) == list(range(10))


def test_same_seed_same_stream_other_seed_other_stream():
  a = pipeline.Batches(_examples(), global_batch=4, seed=1).next(3)['image']
  b = pipeline.Batches(_examples(), global_batch=4, seed=1).next(3)['image']
  c = pipeline.Batches(_examples(), global_batch=4, seed=2).next(3)['image']
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert a.shape == (3, 4, 1)


def test_resume_from_state_gives_the_rest_of_the_stream():
  whole = pipeline.Batches(_examples(), global_batch=4, seed=0)
  expected = whole.next(6)
  first = pipeline.Batches(_examples(), global_batch=4, seed=0)
  head = first.next(2)
  second = pipeline.Batches(_examples(), global_batch=4, seed=0)
  second.set_state(first.get_state())
  rest = second.next(4)
  assert head.keys() == rest.keys() == {'image', 'label'}
  for key in head:  # every entry of the batch resumes, labels too
    np.testing.assert_array_equal(np.concatenate([head[key], rest[key]]), expected[key])


def test_state_from_another_stream_is_refused():
  b = pipeline.Batches(_examples(), global_batch=4, seed=0)
  state = b.get_state()
  other = pipeline.Batches(_examples(), global_batch=8, seed=0)
  with pytest.raises(ValueError, match='global_batch=4.*fresh --workdir'):
    other.set_state(state)


def test_process_shares_are_disjoint_and_cover_the_global_batch():
  n, global_batch = 50, 8
  single = pipeline.Batches(_examples(n), global_batch=global_batch, seed=5)
  shares = [pipeline.Batches(_examples(n), global_batch=global_batch, seed=5, process_index=p,
                             process_count=2) for p in range(2)]
  for batch in range(12):
    parts = [s.indices(batch) for s in shares]
    assert len(parts[0]) == len(parts[1]) == global_batch // 2
    assert not set(parts[0]) & set(parts[1])
    np.testing.assert_array_equal(np.concatenate(parts), single.indices(batch))


def test_uneven_split_between_processes_is_refused():
  with pytest.raises(ValueError, match='not divisible by the 3 processes'):
    pipeline.Batches(_examples(), global_batch=8, seed=0, process_count=3)


def test_ring_has_eight_distinct_modes_and_grid_twenty_five():
  ring = toy.ring_means(8, 1.0)
  assert len({tuple(np.round(m, 6)) for m in ring}) == 8
  np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
  grid = toy.grid_means(5, 2.0)
  assert sorted(set(grid[:, 0])) == [-4.0, -2.0, 0.0, 2.0, 4.0]
  points, labels = toy.sample_mixture(ring, 0.01, 4000, seed=0)
  # Each point lies within 5 sigma of its component's mean; components are used evenly.
  assert np.all(np.linalg.norm(points - ring[labels], axis=1) < 0.05)
  assert np.bincount(labels, minlength=8).min() > 400
