"""cropviz: explore and explain deep-learning crop-type classifiers on Sentinel-2 parcel time series."""

__version__ = "0.1.0"
