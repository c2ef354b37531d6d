"""cropviz.scale: region-wide predictions and explanations precomputed on Dask, read lazily.

``precompute(root, region, model, explain=(...), scheduler=None | "tcp://HOST:8786")`` writes a
partitioned Parquet dataset with a manifest; ``open_precomputed(folder)`` reads it lazily.
"""

from cropviz.scale.precompute import ClusterError, compute_part, partition_ids, precompute
from cropviz.scale.results import PrecomputedResults, open_precomputed

__all__ = ["ClusterError", "PrecomputedResults", "compute_part", "open_precomputed", "partition_ids",
           "precompute"]
