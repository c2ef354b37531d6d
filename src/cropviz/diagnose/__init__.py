"""cropviz.diagnose: why is a parcel misclassified? Label, clouds, ambiguity, atypicality or model.

``diagnose(model, ds)`` returns one row per parcel with its evidence and a verdict;
``embed(model, ds)`` the model's penultimate embedding of parcels; ``project_2d`` a UMAP view of
it; ``diagnose_region`` the Dask step over a whole region. No streamlit here.
"""

from cropviz.diagnose.embedding import embed, project_2d
from cropviz.diagnose.evidence import Evidence, parcel_evidence
from cropviz.diagnose.region import diagnose, in_training_regions, region_evidence, suspected_label_errors
from cropviz.diagnose.verdict import VERDICTS, Thresholds

__all__ = ["VERDICTS", "Evidence", "Thresholds", "diagnose", "embed", "in_training_regions", "parcel_evidence",
           "project_2d", "region_evidence", "suspected_label_errors"]
