"""Importers: bring versions made elsewhere into git. `folder` (`mlreg import dir`: a folder per version, each with a
metadata.json) and `from_mlflow` + `mlflow_plan` (`mlreg import mlflow`, read through the MLflow adapter)."""
