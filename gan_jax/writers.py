"""Where training writes its numbers: TensorBoard event files and `metrics.jsonl` in the
workdir. Only process 0 writes; other processes get a writer that does nothing."""

from __future__ import annotations

import json
import os

import jax
import numpy as np


class MetricWriter:

  def __init__(self, workdir: str):
    from tensorboardX import SummaryWriter  # lazy: only process 0 needs it
    self._tb = SummaryWriter(logdir=workdir, flush_secs=30)
    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a', encoding='utf-8')

  def scalars(self, step: int, scalars: dict) -> None:
    clean = {k: float(v) for k, v in scalars.items()}
    for name, value in clean.items():
      self._tb.add_scalar(name, value, global_step=step)
    self._jsonl.write(json.dumps({'step': int(step), **clean}) + '\n')
    self._jsonl.flush()

  def image(self, step: int, name: str, image: np.ndarray) -> None:
    """`image`: (H, W, C) uint8."""
    self._tb.add_image(name, image, global_step=step, dataformats='HWC')

  def flush(self) -> None:
    self._tb.flush()
    self._jsonl.flush()

  def close(self) -> None:
    self._tb.close()
    self._jsonl.close()


class NullWriter:

  def scalars(self, step, scalars):
    pass

  def image(self, step, name, image):
    pass

  def flush(self):
    pass

  def close(self):
    pass


def create(workdir: str):
  return MetricWriter(workdir) if jax.process_index() == 0 else NullWriter()


def read_jsonl(path: str) -> list[dict]:
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f if line.strip()]


class _OwnInfoOnly:
  """Keeps INFO lines from gan_jax itself and warnings from everyone (orbax logs every save)."""

  def filter(self, record) -> bool:
    import logging as std_logging
    return record.levelno >= std_logging.WARNING or f'{os.sep}gan_jax{os.sep}' in record.pathname


def quiet_library_logs() -> None:
  from absl import logging as absl_logging
  absl_logging.get_absl_handler().addFilter(_OwnInfoOnly())
