import numpy as np
import pandas as pd
import pytest

from cropviz.errors import ConfigurationError
from cropviz.viz.explain import (
    attention_grid,
    attention_heatmap,
    attribution_bars,
    attribution_heatmap,
    cloud_attention_figure,
    compare_attributions,
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
    fig = attention_grid(RNG.uniform(size=(3, 2, 10, 10)), DATES)
    assert len(fig.data) == 6
    assert fig.layout.annotations[5].text == "layer 3 · head 2"
    assert all(t.coloraxis == "coloraxis" for t in fig.data)


def test_attribution_heatmap_is_diverging_and_centred():
    v = RNG.normal(size=(10, 3))
    fig = attribution_heatmap(v, DATES, ["B2", "B4", "B8"])
    h = fig.data[0]
    np.testing.assert_allclose(h.z, v.T)
    assert list(h.y) == ["B2", "B4", "B8"]
    assert h.zmid == 0 and h.zmin == -h.zmax == -np.abs(v).max()


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
