import numpy as np

from cropviz.viz.colors import (
    CLASS_COLORS,
    MISSING_COLOR,
    class_color,
    class_hex,
    continuous_colors,
    hex_to_rgb,
)

CLASSES = ["barley", "wheat", "rapeseed", "corn", "sunflower", "orchards", "nuts",
           "permanent meadows", "temporary meadows"]


def test_nine_classes_have_distinct_fixed_colours():
    colours = [class_hex(c) for c in CLASSES]
    assert len(set(colours)) == 9
    assert all(class_hex(c) == CLASS_COLORS[c] for c in CLASSES)
    assert class_color("wheat") == hex_to_rgb(CLASS_COLORS["wheat"])


def test_names_are_normalised_and_fallback_is_deterministic():
    assert class_hex("Permanent_Meadows") == CLASS_COLORS["permanent meadows"]
    assert class_hex("potatoes") == class_hex("potatoes")
    assert class_hex("potatoes").startswith("#") and len(class_hex("potatoes")) == 7
    assert len({class_hex(f"crop {i}") for i in range(30)}) > 3


def test_continuous_colours_interpolate_and_mark_nan():
    rgb = continuous_colors([0.0, 1.0, 2.0, np.nan], "confidence")
    assert rgb.shape == (4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0]) == hex_to_rgb("#440154")
    assert tuple(rgb[1]) == tuple(rgb[2]) == hex_to_rgb("#FDE725")  # clipped
    assert tuple(rgb[3]) == hex_to_rgb(MISSING_COLOR)


def test_the_words_for_signed_colours_name_those_colours():
    from cropviz.viz.colors import NEGATIVE_COLOR, NEGATIVE_WORD, POSITIVE_COLOR, POSITIVE_WORD, hex_to_rgb

    channel = {"red": 0, "green": 1, "blue": 2}
    for color, word in ((POSITIVE_COLOR, POSITIVE_WORD), (NEGATIVE_COLOR, NEGATIVE_WORD)):
        rgb = hex_to_rgb(color)
        assert max(range(3), key=rgb.__getitem__) == channel[word], (color, word)


def test_darken_and_the_magnitude_scale():
    from cropviz.viz.colors import darken, plotly_scale

    assert darken("#DDCC77", 0.5) == "#6E663C"
    scale = plotly_scale("magnitude")
    assert scale[0][0] == 0.0 and scale[-1][0] == 1.0 and len(scale) == 5
