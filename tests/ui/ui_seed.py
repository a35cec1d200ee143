"""What the UI tests look at, logged through the official client as a user would: two
experiments, runs with params, metrics, tags and histories, a parent with nested runs, a
run whose name, tags, params and note carry script payloads, artifacts of every previewed
kind, a dataset, a logged scikit-learn model and a registered model with versions."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

XSS_NAME = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
XSS_NOTE = ("# Findings <script>window.__xss=3</script>\n\n"
            "Accuracy **improved** by `2%`; see [docs](javascript:window.__xss=4) and "
            "[the report](https://example.com/report).\n\n"
            "- <img src=x onerror=\"window.__xss=5\">\n- second *point*\n")
MODEL_NAME = "iris-classifier"


@dataclass
class Seeded:
    experiment_id: str
    other_experiment_id: str
    runs: dict = field(default_factory=dict)  # name -> run id
    xss_run: str = ""
    parent_run: str = ""
    model_run: str = ""


def seed(url: str) -> Seeded:
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from PIL import Image
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    exp = client.create_experiment("vision-sweep", tags={"team": "vision"})
    other = client.create_experiment("text-baselines")
    seeded = Seeded(exp, other)

    # Eight plain runs with differing learning rates and losses, histories of 50 steps.
    for i in range(8):
        lr = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.05, 0.005][i]
        run = client.create_run(exp, run_name=f"sweep-{i}", tags={"stage": "dev" if i % 2 else "prod"})
        rid = run.info.run_id
        seeded.runs[f"sweep-{i}"] = rid
        history = [mlflow.entities.Metric("loss", 1.0 / (1 + s * lr * 10) + 0.01 * i, 1_700_000_000_000 + s * 1000, s)
                   for s in range(50)]
        history += [mlflow.entities.Metric("accuracy", 0.5 + 0.4 * (1 - 1 / (1 + s * lr * 10)), 1_700_000_000_000 + s * 1000, s)
                    for s in range(50)]
        client.log_batch(rid, metrics=history,
                         params=[mlflow.entities.Param("lr", str(lr)), mlflow.entities.Param("optimizer", "adam" if i < 4 else "sgd"),
                                 mlflow.entities.Param("layers", str(2 + i % 3))])
        client.set_terminated(rid, "FINISHED" if i != 5 else "FAILED")

    # A parent with two nested children.
    parent = client.create_run(exp, run_name="hyperopt-parent").info.run_id
    seeded.parent_run = parent
    for j in range(2):
        child = client.create_run(exp, run_name=f"trial-{j}", tags={"mlflow.parentRunId": parent}).info.run_id
        client.log_metric(child, "loss", 0.3 - j * 0.1, step=0)
        client.log_param(child, "lr", str(0.02 * (j + 1)))
        client.set_terminated(child)
        seeded.runs[f"trial-{j}"] = child
    client.set_terminated(parent)

    # The run with script payloads everywhere a user can type text.
    xss = client.create_run(exp, run_name=XSS_NAME, tags={"payload": XSS_NAME, "mlflow.note.content": XSS_NOTE})
    seeded.xss_run = xss.info.run_id
    client.log_param(seeded.xss_run, "html", XSS_NAME)
    client.log_metric(seeded.xss_run, "loss", 0.5)
    client.log_text(seeded.xss_run, "<html><body><script>parent.__xss=6</script><b>bold</b></body></html>",
                    "report.html")
    client.set_terminated(seeded.xss_run)

    # A run with a model, a dataset, artifacts of each previewed kind and a source commit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run(experiment_id=exp, run_name="trained-model") as run:
            rid = run.info.run_id
            seeded.model_run = rid
            X, y = load_iris(return_X_y=True)
            frame = pd.DataFrame(X[:20], columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
            mlflow.log_input(mlflow.data.from_pandas(frame, source="s3://datasets/iris.parquet", name="iris"),
                             context="training")
            mlflow.log_params({"C": "1.0", "max_iter": "500"})
            for step in range(30):
                mlflow.log_metric("train_loss", 1.2 * 0.9 ** step, step=step)
            mlflow.set_tags({"mlflow.source.git.commit": "0123456789abcdef0123456789abcdef01234567",
                             "mlflow.source.name": "train.py", "mlflow.user": "ada"})
            mlflow.log_text("epoch,loss\n1,0.9\n2,0.5\n3,0.25\n", "tables/losses.csv")
            mlflow.log_dict({"layers": [64, 32], "activation": "relu"}, "config/config.json")
            mlflow.log_text("learning_rate: 0.01\nbatch: 32\n", "config/params.yaml")
            mlflow.log_text("line one\nline two <b>not bold</b>\n", "notes/readme.txt")
            buffer = io.BytesIO()
            Image.fromarray((np.indices((64, 64)).sum(axis=0) * 2 % 256).astype("uint8")).save(buffer, "PNG")
            client.log_image(rid, Image.open(io.BytesIO(buffer.getvalue())), "images/gradient.png")
            model = LogisticRegression(max_iter=500).fit(X, y)
            info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2])
        registered = mlflow.register_model(info.model_uri, MODEL_NAME, tags={"owner": "vision"})
        mlflow.register_model(info.model_uri, MODEL_NAME)  # a second version
    client.set_registered_model_alias(MODEL_NAME, "champion", registered.version)
    client.set_model_version_tag(MODEL_NAME, registered.version, "validated", "yes")
    client.update_registered_model(MODEL_NAME, description="Classifies iris flowers.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated, still shown
        client.transition_model_version_stage(MODEL_NAME, registered.version, "Staging")

    # The other experiment: one run, so that runs of two experiments can be listed together.
    run = client.create_run(other, run_name="bert-base")
    client.log_metric(run.info.run_id, "loss", 0.42)
    client.log_param(run.info.run_id, "lr", "0.0001")
    client.set_terminated(run.info.run_id)
    seeded.runs["bert-base"] = run.info.run_id
    return seeded
