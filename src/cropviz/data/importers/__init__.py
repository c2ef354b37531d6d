"""Bring your own data: import parcel tables and extract parcel statistics from rasters.

Both write the BreizhCrops layout (see ``cropviz.data.breizhcrops``) with a ``cropviz.json``
that says the data are imported and, for a level other than L2A, which columns the h5 arrays hold.
"""

from cropviz.data.importers.raster import extract_rasters
from cropviz.data.importers.table import import_table

__all__ = ["extract_rasters", "import_table"]
