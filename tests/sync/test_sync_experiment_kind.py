"""MLflow 3.x's UI opens an experiment with no `mlflow.experimentKind` in GenAI mode (synced runs then show as
evaluation runs): sync marks the experiments it writes runs to as model training, never over a kind someone set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.server
KIND = "mlflow.experimentKind"


def test_sync_marks_its_experiments_as_model_training(reg, training, mlflow_server, uniq):
    c = mlflow_server.client()
    existing = c.create_experiment(f"{uniq}-old")  # made by hand before, no kind
    chosen = c.create_experiment(f"{uniq}-genai", tags={KIND: "genai_development"})
    reg.register(f"{uniq}-a", training(experiment=f"{uniq}-new"))
    reg.register(f"{uniq}-b", training(experiment=f"{uniq}-old"))
    reg.register(f"{uniq}-c", training(experiment=f"{uniq}-genai"))

    assert reg.sync(mlflow_server.url).ok

    assert c.get_experiment_by_name(f"{uniq}-new").tags[KIND] == "custom_model_development"
    assert c.get_experiment(existing).tags[KIND] == "custom_model_development"
    assert c.get_experiment(chosen).tags[KIND] == "genai_development"
    run = c.get_run(c.search_model_versions(f"name = '{uniq}-a'")[0].run_id)
    assert run.data.tags["mlflow.user"] == reg.get(f"{uniq}-a", "1").record.created_by  # the run's "Created by"
