"""GAN families by name (`config.family`): each one game, in one module.

A family owns how its players are built and initialised, its per-device update step (pmap
style, explicit collectives), any state it keeps beyond the players (`GANState.extra`), and how
it samples. The trainer (`train.py`), sharding, checkpointing, logging, signals and the
evaluators are generic: they only call what a family object offers.

A family object has:
- `player_names`: its players' names (the keys of `GANState.players`);
- `init(rng) -> GANState`: a fresh state, pure in `rng` (`jax.eval_shape` of it is the restore
  template);
- `train_step(state, batches) -> (state, metrics)`: per device, `batches` this device's
  (d_steps, local_batch, ...) share of each data entry; every metric named '*_loss' is checked
  for non-finite values by the trainer;
- `refresh(state, indices) -> state`: per device, recomputes what the EMA copies need to run
  (their batch-norm statistics); the trainer calls it before it samples, evaluates or saves;
- `legacy_state(old) -> GANState`: a state from a checkpoint of the layout before families;
- sampling, on the host: `sample(ema, seed=, num=, labels=, truncation=)`, `grid(...)`,
  `interpolation(...)`, `labels_for(num, labels)`, and `picture(host_state, samples, path, ...)`;
- `has_latent`: whether its generator takes a latent z, which `truncation=t` truncates (the
  truncation trick, `gan_jax/truncation.py`); a family without one refuses truncation.

A family that translates images (`translates = True`: Pix2Pix, CycleGAN; shared pieces in
`translation.py`) also has `translate(ema, images, direction=, seed=)` and `directions`, and
its `grid` shows held-out sources beside their translations; the evaluators measure it with
`evaluators/translation.py`, and `gan_jax.translate` applies it to a folder.

A family with a style-based generator (`stylegan2`) also has `styles(ema, z, labels, psi=,
cutoff=)` (w's truncated toward the tracked average w), `synthesize(ema, ws)` and
`style_mix(ema, ...)`: `gan_jax.sample`'s --truncation_psi and --style_mix, and
`gan_jax.project`, use them. A family may define `check_devices(n)`, a start-up check of the
device count against its settings, `check_start()`, a start-up check of what it reads (e.g.
StackGAN stage II's stage I checkpoint), and `initial_state(state)`, what a fresh run's state
takes beyond the initialiser's (StackGAN stage II: the trained stage I).

StackGAN (`stackgan`) generates from description vectors: `sample(..., condition=)` and
`generate_stages` (both stages' images). Age-cGAN (`agecgan`) is the conditional game with an
encoder 'e' that maps images back to latents, trained after the GAN; `gan_jax.reattribute`
uses it.

Adding a family is its module plus one entry in FAMILIES.
"""

from __future__ import annotations

from gan_jax.families import agecgan, conditional, cyclegan, gan, pix2pix, stackgan, stylegan2

FAMILIES = {
    'gan': gan.build,                  # unconditional G(z) against D(x)
    'conditional': conditional.build,  # class-conditional: concat, projection, acgan
    'pix2pix': pix2pix.build,          # paired image translation: G(a) against D(a, b)
    'cyclegan': cyclegan.build,        # unpaired translation both ways, cycle consistency
    'stylegan2': stylegan2.build,      # style-based G, lazy regularisers, ADA
    'stackgan': stackgan.build,        # two stages from a description, matching-aware D's
    'agecgan': agecgan.build,          # conditional G, an encoder, re-attribution
}


def build(config, spec, dtype):
  name = config.get('family', 'gan')
  if name not in FAMILIES:
    raise ValueError(f'unknown family {name!r}; choose one of {sorted(FAMILIES)}')
  return FAMILIES[name](config, spec, dtype)
