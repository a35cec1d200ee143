"""The experiments a trace search names, read alike by the access guard and the search route."""
from __future__ import annotations


def searched_experiments(locations) -> list[str]:
    """The experiment ids a trace search names: its v3 `locations` (those of other types, such as
    Unity Catalog tables, name none), or the 2.x client's `experiment_ids`."""
    ids = (item.get("mlflow_experiment", {}).get("experiment_id") if isinstance(item, dict) else item
           for item in locations or [])
    return [str(i) for i in dict.fromkeys(ids) if i]
