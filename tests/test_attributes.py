"""The digit attributes (thickness, slant, size) on drawn strokes of known width and angle, and
the description vectors built from them."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gan_jax.data import attributes


def _stroke(width, angle, *, size=64, length=40):
  """A straight stroke of `width` pixels, its top leaning `angle` degrees right of vertical,
  white on black, in [0, 1]."""
  image = Image.new('L', (size, size))
  a = np.radians(angle)
  dx, dy = np.sin(a) * length / 2, -np.cos(a) * length / 2
  ImageDraw.Draw(image).line([(size / 2 - dx, size / 2 - dy), (size / 2 + dx, size / 2 + dy)],
                             fill=255, width=width)
  return np.asarray(image, np.float64) / 255.0


@pytest.mark.parametrize('width', [2, 4, 6, 8])
@pytest.mark.parametrize('angle', [-20, 0, 15, 25])
def test_thickness_and_slant_of_drawn_strokes(width, angle):
  m = attributes.measure(_stroke(width, angle)[None], unit=True)
  assert abs(m['thickness'][0] - width) <= 0.2 * width + 0.3
  assert abs(m['slant'][0] - angle) < 1.5
  # [-1, 1] images measure the same as [0, 1] ones.
  again = attributes.measure(_stroke(width, angle)[None] * 2 - 1)
  assert again['thickness'][0] == pytest.approx(m['thickness'][0])


def test_size_grows_with_the_stroke_and_an_empty_image_measures_zero():
  short = attributes.measure(_stroke(3, 0, length=20)[None], unit=True)['size'][0]
  long = attributes.measure(_stroke(3, 0, length=44)[None], unit=True)['size'][0]
  # A line's root-mean-square distance from its centre is length / sqrt(12).
  assert long == pytest.approx(44 / np.sqrt(12) / 64, rel=0.1)
  assert short < long
  empty = attributes.measure(np.zeros((1, 32, 32)), unit=True)
  assert all(float(v[0]) == 0.0 for v in empty.values())


def test_skeleton_of_a_thick_bar_is_one_pixel_wide_and_keeps_its_length():
  bar = np.zeros((1, 20, 30), bool)
  bar[0, 7:13, 5:25] = True          # 6 rows by 20 columns
  line = attributes.skeleton(bar)[0]
  assert line.sum(axis=0).max() == 1      # one pixel per column
  assert 12 <= line.sum() <= 20


def test_descriptions_round_trip_and_are_standardised_on_the_digits():
  mean, std = attributes.digits_statistics(32)
  values = np.stack([mean, mean + std])
  vectors = attributes.description(np.array([3, 7]), values, 32)
  assert vectors.shape == (2, 13)
  np.testing.assert_allclose(vectors[0, 10:], 0, atol=1e-6)
  np.testing.assert_allclose(vectors[1, 10:], 1, atol=1e-6)
  classes, back = attributes.from_description(vectors, 32)
  assert classes.tolist() == [3, 7]
  np.testing.assert_allclose(back, values, rtol=1e-5)


def test_measure_rejects_colour_images():
  with pytest.raises(ValueError, match='grayscale'):
    attributes.measure(np.zeros((2, 8, 8, 3)))
