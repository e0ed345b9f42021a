"""Sweeps and launchers: `python -m gan_jax.launch` runs an experiment's sweep locally, on
SLURM, or prints its commands; `python -m gan_jax.launch.summarize` tabulates the results.
"""
