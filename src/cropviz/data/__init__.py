"""Data layer: BreizhCrops-layout reader, downloader, simulated demo region."""

from cropviz.data.breizhcrops import (BreizhCropsDataset, Parcel, PatchSet, list_regions,
                                      open_breizhcrops, summarize)
from cropviz.data.geometry import read_parcel_geometries, to_wgs84

__all__ = ["BreizhCropsDataset", "Parcel", "PatchSet", "list_regions", "open_breizhcrops",
           "read_parcel_geometries", "summarize", "to_wgs84"]
