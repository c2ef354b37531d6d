"""Data layer: BreizhCrops-layout reader, downloader, simulated demo region."""
