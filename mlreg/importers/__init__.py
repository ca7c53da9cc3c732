"""Importers: bring versions made elsewhere into git. `from_folder` (`mlreg import dir`, the layout read by `folder`:
a folder per version, each with a metadata.json) and `from_mlflow` + `mlflow_plan` (`mlreg import mlflow`, read
through the MLflow adapter)."""
