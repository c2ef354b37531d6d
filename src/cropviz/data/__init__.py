"""Data layer: BreizhCrops-layout reader, downloader, simulated demo region.

Names are imported on first use, so that ``cropviz.data.bands`` and other light modules do not
pull in h5py and geopandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cropviz._lazy import attach

if TYPE_CHECKING:
    from cropviz.data.breizhcrops import (
        BreizhCropsDataset,
        Parcel,
        PatchSet,
        list_regions,
        open_breizhcrops,
        summarize,
    )
    from cropviz.data.geometry import read_parcel_geometries, to_wgs84

__all__ = ["BreizhCropsDataset", "Parcel", "PatchSet", "list_regions", "open_breizhcrops",
           "read_parcel_geometries", "summarize", "to_wgs84"]
__getattr__, __dir__ = attach(__name__, {
    **dict.fromkeys(["BreizhCropsDataset", "Parcel", "PatchSet", "list_regions", "open_breizhcrops", "summarize"],
                    "breizhcrops"),
    "read_parcel_geometries": "geometry", "to_wgs84": "geometry",
})
