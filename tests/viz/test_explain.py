import numpy as np
import pandas as pd
import pytest

from cropviz.data.bands import SPECTRAL_BANDS, band_order
from cropviz.errors import ConfigurationError
from cropviz.viz.colors import plotly_scale
from cropviz.viz.explain import (
    attention_grid,
    attention_heatmap,
    attribution_bars,
    attribution_heatmap,
    band_label,
    cloud_attention_figure,
    compare_attributions,
    decisive_table,
    top_observations_table,
)

DATES = pd.date_range("2017-01-05", periods=10, freq="20D")
RNG = np.random.default_rng(0)


def test_attention_heatmap_with_date_ticks():
    m = RNG.uniform(size=(10, 10))
    fig = attention_heatmap(m, DATES, title="layer 1")
    np.testing.assert_allclose(fig.data[0].z, m)
    assert "2017-01-05" in fig.layout.xaxis.ticktext
    assert fig.layout.yaxis.title.text == "query date"
    with pytest.raises(ConfigurationError):
        attention_heatmap(m[:5], DATES)


def test_attention_heatmap_allows_repeated_dates():
    dates = DATES[[0, 0, 1, 2, 3, 4, 5, 6, 7, 8]]
    fig = attention_heatmap(np.eye(10), dates)
    assert list(fig.data[0].x) == list(range(10))


def test_attention_grid_one_panel_per_layer_and_head():
    matrices = RNG.uniform(size=(3, 2, 10, 10))
    fig = attention_grid(matrices, DATES)
    assert len(fig.data) == 6
    np.testing.assert_allclose(fig.data[3].z, matrices[1, 1], rtol=1e-6)  # row-major: layer 2, head 2
    assert (fig.data[3].xaxis, fig.data[3].yaxis) == ("x4", "y4")
    labels = [d.strftime("%Y-%m-%d") for d in DATES]
    # the hover names the cell's dates from its category axes
    assert (fig.data[5].y[2], fig.data[5].x[7]) == (labels[2], labels[7])
    assert fig.data[5].hovertemplate.startswith("query %{y}<br>key %{x}")
    assert fig.layout.xaxis6.type == fig.layout.yaxis6.type == "category"
    assert fig.layout.annotations[5].text == "layer 3 · head 2"
    one = attention_grid(matrices[2:], DATES, layer_numbers=[3])
    assert [a.text for a in one.layout.annotations[:2]] == ["layer 3 · head 1", "layer 3 · head 2"]
    with pytest.raises(ConfigurationError, match="2 layer numbers for 3 layers"):
        attention_grid(matrices, DATES, layer_numbers=[1, 2])
    assert all(t.coloraxis == "coloraxis" for t in fig.data)


def test_attention_grid_tells_repeated_dates_apart_and_sends_little():
    dates = pd.DatetimeIndex(["2017-01-05", "2017-01-05", "2017-02-01"])
    fig = attention_grid(RNG.uniform(size=(1, 1, 3, 3)), dates)
    assert list(fig.data[0].x) == ["2017-01-05", "2017-01-05 (2)", "2017-02-01"]
    # the shipped transformer's grid (5 layers x 2 heads, 45 dates): 730 kB with a hover text per cell
    big = attention_grid(RNG.uniform(size=(5, 2, 45, 45)), pd.date_range("2017-01-01", periods=45, freq="7D"))
    assert len(big.to_json()) < 200_000  # 162 kB: float32 cells, no text


def test_attribution_heatmap_is_diverging_and_centred():
    v = RNG.normal(size=(10, 3))
    fig = attribution_heatmap(v, DATES, ["B2", "B4", "B8"])
    h = fig.data[0]
    np.testing.assert_allclose(h.z, v.T)
    assert list(h.y) == ["B2 blue", "B4 red", "B8 NIR"]
    assert fig.layout.yaxis.autorange == "reversed"  # first band on top, B1 ... B12 reading down
    assert h.zmid == 0 and h.zmin == -h.zmax == -np.abs(v).max()


def test_attribution_heatmaps_list_the_bands_by_wavelength_whatever_the_model_order():
    bands = list(band_order("L1C"))  # the breizhcrops package's order: B1, B10, B11, B12, B2, ...
    v = RNG.normal(size=(10, len(bands)))
    h = attribution_heatmap(v, DATES, bands).data[0]
    assert [label.split()[0] for label in h.y] == list(SPECTRAL_BANDS["L1C"])
    np.testing.assert_allclose(h.z[h.y.index("B10 cirrus")], v[:, bands.index("B10")])
    np.testing.assert_allclose(h.z[-1], v[:, bands.index("B12")])


def test_attribution_heatmap_of_magnitudes_uses_the_whole_sequential_scale():
    v = np.abs(RNG.normal(size=(10, 3)))
    h = attribution_heatmap(v, DATES, ["B2", "B4", "B8"]).data[0]
    assert h.zmin == 0 and h.zmax == pytest.approx(v.max())
    assert h.zmid is None
    assert [c for _, c in h.colorscale] == [c for _, c in plotly_scale("magnitude")]
    assert attribution_heatmap(v, DATES, ["B2", "B4", "B8"], signed=True).data[0].zmin == -v.max()


def test_band_labels_name_what_the_band_measures():
    assert band_label("B8A") == "B8A narrow NIR" and band_label("B11") == "B11 SWIR 1"
    assert band_label("doa") == "doa"


def test_attention_grid_puts_dates_and_axis_titles_on_the_outer_panels_only():
    matrices = RNG.uniform(size=(2, 3, 10, 10))
    fig = attention_grid(matrices, DATES)
    layout = fig.layout
    x_axes = [layout[f"xaxis{k if k > 1 else ''}"] for k in range(1, 7)]
    y_axes = [layout[f"yaxis{k if k > 1 else ''}"] for k in range(1, 7)]
    # row 1 (panels 1-3) shows no date ticks that could run into the titles of row 2
    assert [a.showticklabels for a in x_axes] == [False, False, False, True, True, True]
    assert {a.title.text for a in x_axes[3:]} == {"key date (attended to)"}
    assert [a.showticklabels for a in y_axes] == [True, False, False, True, False, False]
    assert y_axes[0].title.text == "query date"
    # the gap between rows leaves room for a panel title above the lower row
    assert x_axes[0].domain is not None and y_axes[0].domain[0] - y_axes[3].domain[1] >= 0.05


def test_attribution_bars_signed_and_cloud_hatched():
    v = np.linspace(-1, 1, 10)
    cloudy = np.arange(10) % 3 == 0
    bar = attribution_bars(DATES, v, cloudy=cloudy).data[0]
    assert len(set(bar.marker.color[:5])) == 1 and bar.marker.color[0] != bar.marker.color[-1]
    assert list(bar.marker.pattern.shape).count("/") == cloudy.sum()


def test_compare_attributions_shares_scale():
    a, b = RNG.normal(size=(10, 2)), 3 * RNG.normal(size=(10, 2))
    fig = compare_attributions(a, b, ["IG", "DeepLift"], DATES, ["B4", "B8"])
    assert len(fig.data) == 2 and fig.layout.coloraxis.cmax == np.abs(np.r_[a, b]).max()
    bars = compare_attributions(a[:, 0], b[:, 0], ["IG", "DeepLift"], DATES)
    assert [t.type for t in bars.data] == ["bar", "bar"]


def test_cloud_attention_means_per_class_and_month():
    df = pd.DataFrame({"classname": ["wheat", "wheat", "wheat", "corn"],
                       "cloudy": [True, False, False, True],
                       "attention": [0.1, 0.3, 0.5, 0.2],
                       "date": pd.to_datetime(["2017-01-10", "2017-01-20", "2017-02-01",
                                               "2017-02-05"])})
    fig = cloud_attention_figure(df)
    clear_class, clear_month = [t for t in fig.data if t.name == "clear"]
    assert list(clear_class.x) == ["wheat", "corn"]
    assert clear_class.y[0] == pytest.approx(0.4) and np.isnan(clear_class.y[1])
    cloudy_month = [t for t in fig.data if t.name == "cloudy"][1]
    assert cloudy_month.y[0] == pytest.approx(0.1) and cloudy_month.y[1] == pytest.approx(0.2)
    with pytest.raises(ConfigurationError):
        cloud_attention_figure(df.drop(columns="date"))


def test_top_observations_table_says_which_are_cloudy_with_plain_dates():
    from cropviz.explain import top_k_observations

    per_observation = np.array([0.1, -0.9, 0.3, 0.0, 0.5, 0.2, 0.0, 0.0, 0.0, 0.0])
    cloudy = np.zeros(10, dtype=bool)
    cloudy[1] = True
    table = top_observations_table(top_k_observations(per_observation, k=3, dates=DATES), cloudy)
    assert list(table["observation"]) == [2, 5, 3]
    assert list(table["date"]) == [d.strftime("%Y-%m-%d") for d in DATES[[1, 4, 2]]]
    assert list(table["cloud-flagged"]) == ["yes", "no", "no"]
    assert list(table["share of |attribution|"]) == ["45%", "25%", "15%"]
    assert list(table["attribution"]) == ["-0.900", "0.500", "0.300"]  # three significant digits, evenly
    with pytest.raises(ConfigurationError):
        top_observations_table(top_k_observations(per_observation, k=3, dates=DATES), cloudy[:1])


def test_the_dossiers_decisive_inputs_read_like_the_attributions_pages_top_observations():
    from cropviz.diagnose.dossier import decisive_observations

    dates = pd.to_datetime(["2017-03-01", "2017-04-01", "2017-05-01"])
    decisive = decisive_observations(np.array([0.1, -0.6, 0.3]), dates.to_numpy(), np.array([False, True, False]),
                                     top=2)
    table = decisive_table(decisive)
    top = pd.DataFrame({"index": [1, 2], "date": dates[[1, 2]], "value": [-0.6, 0.3], "share": [0.6, 0.3]})
    pd.testing.assert_frame_equal(table, top_observations_table(top, [False, True, False]))
    assert table.to_dict("list") == {"observation": [2, 3], "date": ["2017-04-01", "2017-05-01"],
                                     "cloud-flagged": ["yes", "no"], "attribution": ["-0.600", "0.300"],
                                     "share of |attribution|": ["60%", "30%"]}
