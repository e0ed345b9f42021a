"""Sweeps: an experiment's variations as data, and their launchers.

- `points.py`: sweeps as lists of config overrides (`product`, `zipped`, `combine`, the PacGAN
  and mixture grids, re-exported here for experiment files: `sweeps.product(...)`), expanded
  into runs with their own workdirs;
- `python -m gan_jax.sweeps`: runs an experiment's sweep locally, on SLURM, or prints its
  commands (`backends.py`);
- `python -m gan_jax.sweeps.summarize`: tabulates a sweep's results.

The shell scripts in the repository's top-level `launch/` start one run over several processes
or hosts; this package starts many runs.
"""

from gan_jax.sweeps.points import combine, mixture, pacgan, product, zipped

__all__ = ['combine', 'mixture', 'pacgan', 'product', 'zipped']
