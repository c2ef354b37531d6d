"""Building blocks of the simulated BreizhCrops-like demo region (see ``cropviz.data.demo``).

- ``landscape``: a contiguous patchwork of fields between roads, woods and villages; farms.
- ``parcels``: regions, crop labels (shared by a farm's neighbouring fields) and parcel polygons.
- ``phenology``: per-parcel crop calendars -> green / dry / flower cover fractions over time.
- ``spectra``: endmember mixing to Sentinel-2 surface and top-of-atmosphere reflectance.
- ``clouds``: acquisition calendar, spatially correlated clouds, cirrus, shadows, QA60 / CLD.
- ``patches``: 32x32 parcel patches (seed 004 form): class-independent texture, clouds filled.
"""
