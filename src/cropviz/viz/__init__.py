"""Plotting layer: functions take arrays / tables and return plotly Figures or pydeck Decks.

No streamlit and no file reading here; the app and notebooks pass data in. Names are imported on
first use (plotly and pydeck are heavy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cropviz._lazy import attach

if TYPE_CHECKING:
    from cropviz.viz.colors import CLASS_COLORS, class_color, class_colors, class_hex, continuous_colors
    from cropviz.viz.explain import (
        attention_grid,
        attention_heatmap,
        attribution_bars,
        attribution_heatmap,
        cloud_attention_figure,
        compare_attributions,
    )
    from cropviz.viz.export import figure_to_html, figure_to_png, table_to_csv
    from cropviz.viz.maps import legend_items, parcel_deck, parcel_layer_data
    from cropviz.viz.metrics import confusion_figure, model_comparison_figure, per_class_figure
    from cropviz.viz.phenology import CROP_CALENDAR, calendar_events, phenology_figure, season_frames
    from cropviz.viz.trajectories import (
        add_observation_weights,
        mark_top_observations,
        probability_bar,
        trajectory_figure,
    )

__all__ = [
    "CLASS_COLORS", "CROP_CALENDAR", "add_observation_weights", "attention_grid",
    "attention_heatmap", "attribution_bars", "attribution_heatmap", "calendar_events",
    "class_color", "class_colors", "class_hex", "cloud_attention_figure", "compare_attributions",
    "confusion_figure", "continuous_colors", "figure_to_html", "figure_to_png", "legend_items",
    "mark_top_observations", "model_comparison_figure", "parcel_deck", "parcel_layer_data",
    "per_class_figure", "phenology_figure", "probability_bar", "season_frames", "table_to_csv",
    "trajectory_figure",
]
__getattr__, __dir__ = attach(__name__, {
    "CLASS_COLORS": "colors", "class_color": "colors", "class_colors": "colors", "class_hex": "colors",
    "continuous_colors": "colors", "attention_grid": "explain", "attention_heatmap": "explain",
    "attribution_bars": "explain", "attribution_heatmap": "explain", "cloud_attention_figure": "explain",
    "compare_attributions": "explain", "figure_to_html": "export", "figure_to_png": "export", "table_to_csv":
    "export", "legend_items": "maps", "parcel_deck": "maps", "parcel_layer_data": "maps", "confusion_figure":
    "metrics", "model_comparison_figure": "metrics", "per_class_figure": "metrics", "CROP_CALENDAR":
    "phenology", "calendar_events": "phenology", "phenology_figure": "phenology", "season_frames":
    "phenology", "add_observation_weights": "trajectories", "mark_top_observations": "trajectories",
    "probability_bar": "trajectories", "trajectory_figure": "trajectories",
})
