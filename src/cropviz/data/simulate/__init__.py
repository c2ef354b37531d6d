"""Building blocks of the simulated BreizhCrops-like demo region (see ``cropviz.data.demo``).

- ``parcels``: regions, farms, crop labels and parcel polygons (Lambert-93).
- ``phenology``: per-parcel crop calendars -> green / dry / flower cover fractions over time.
- ``spectra``: endmember mixing to Sentinel-2 surface and top-of-atmosphere reflectance.
- ``clouds``: acquisition calendar, spatially correlated clouds, cirrus, shadows, QA60 / CLD.
- ``patches``: 32x32 parcel patches with in-field texture (seed 004 form).
"""
