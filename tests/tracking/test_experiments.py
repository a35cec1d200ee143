"""Experiments as a user manages them with the official client: create, find, rename, tag,
delete and restore, search with filters, ordering, view types and paging."""
from __future__ import annotations

import time

import mlflow
import pytest
from mlflow.entities import ViewType

from conftest import unique
from tracking_helpers import raises_mlflow


def test_default_experiment_exists(client):
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert default.lifecycle_stage == "active"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_set_experiment_creates_then_reuses(client):
    name = unique("set")
    assert client.get_experiment_by_name(name) is None
    first = mlflow.set_experiment(name)
    assert first.name == name
    assert first.lifecycle_stage == "active"
    assert first.experiment_id.isdigit()
    again = mlflow.set_experiment(name)
    assert again.experiment_id == first.experiment_id
    # only one experiment with that name exists
    found = client.search_experiments(filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in found] == [first.experiment_id]
    # set_experiment by id also works and runs land there
    by_id = mlflow.set_experiment(experiment_id=first.experiment_id)
    assert by_id.name == name
    with mlflow.start_run() as run:
        pass
    assert client.get_run(run.info.run_id).info.experiment_id == first.experiment_id


def test_new_experiment_has_proxied_artifact_location_and_times(client):
    exp_id = client.create_experiment(unique())
    exp = client.get_experiment(exp_id)
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert exp.creation_time > 0
    assert exp.last_update_time >= exp.creation_time


def test_create_experiment_with_tags_and_artifact_location(client):
    name = unique("tagged")
    exp_id = client.create_experiment(name, artifact_location="s3://my-bucket/some/path",
                                      tags={"team": "vision", "priority": "1"})
    exp = client.get_experiment(exp_id)
    assert exp.name == name
    assert exp.artifact_location == "s3://my-bucket/some/path"
    assert exp.tags == {"team": "vision", "priority": "1"}
    assert client.get_experiment_by_name(name).tags == {"team": "vision", "priority": "1"}
    run = client.create_run(exp_id)
    assert run.info.artifact_uri == f"s3://my-bucket/some/path/{run.info.run_id}/artifacts"


def test_get_experiment_by_name_missing_is_none(client):
    assert client.get_experiment_by_name(unique("missing")) is None
    assert mlflow.get_experiment_by_name(unique("missing")) is None


def test_get_experiment_missing_id_raises(client):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_experiment("987654321")


def test_create_duplicate_name_is_rejected(client):
    name = unique("dup")
    client.create_experiment(name)
    with raises_mlflow("RESOURCE_ALREADY_EXISTS"):
        client.create_experiment(name)


def test_rename_experiment(client):
    old, new = unique("old"), unique("new")
    exp_id = client.create_experiment(old)
    client.rename_experiment(exp_id, new)
    assert client.get_experiment(exp_id).name == new
    assert client.get_experiment_by_name(new).experiment_id == exp_id
    assert client.get_experiment_by_name(old) is None


def test_rename_to_existing_name_is_rejected(client):
    a, b = unique("a"), unique("b")
    a_id = client.create_experiment(a)
    client.create_experiment(b)
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.rename_experiment(a_id, b)
    assert client.get_experiment(a_id).name == a


def test_delete_and_restore_experiment_with_its_runs(client):
    name = unique("del")
    exp_id = client.create_experiment(name)
    runs = [client.create_run(exp_id).info.run_id for _ in range(2)]

    client.delete_experiment(exp_id)
    exp = client.get_experiment(exp_id)
    assert exp.lifecycle_stage == "deleted"
    # still findable by name, but marked deleted
    assert client.get_experiment_by_name(name).lifecycle_stage == "deleted"
    for run_id in runs:
        assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([exp_id], run_view_type=ViewType.ACTIVE_ONLY) == []
    assert {r.info.run_id for r in client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)} \
        == set(runs)
    # the name stays taken while the experiment is deleted
    with raises_mlflow("RESOURCE_ALREADY_EXISTS"):
        client.create_experiment(name)
    # set_experiment refuses a deleted experiment instead of silently using it
    with pytest.raises(mlflow.exceptions.MlflowException):
        mlflow.set_experiment(name)

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    for run_id in runs:
        assert client.get_run(run_id).info.lifecycle_stage == "active"
    assert {r.info.run_id for r in client.search_runs([exp_id])} == set(runs)
    assert mlflow.set_experiment(name).experiment_id == exp_id


def test_delete_missing_experiment_raises(client):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.delete_experiment("987654321")


def test_set_and_delete_experiment_tag(client):
    exp_id = client.create_experiment(unique())
    client.set_experiment_tag(exp_id, "stage", "dev")
    client.set_experiment_tag(exp_id, "owner", "alice")
    assert client.get_experiment(exp_id).tags == {"stage": "dev", "owner": "alice"}
    client.set_experiment_tag(exp_id, "stage", "prod")  # overwrite
    assert client.get_experiment(exp_id).tags["stage"] == "prod"
    client.delete_experiment_tag(exp_id, "stage")
    assert client.get_experiment(exp_id).tags == {"owner": "alice"}
    # fluent API sets a tag on the active experiment
    mlflow.set_experiment(experiment_id=exp_id)
    mlflow.set_experiment_tags({"x": "1", "y": "2"})
    assert client.get_experiment(exp_id).tags == {"owner": "alice", "x": "1", "y": "2"}


# ------------------------------------------------------------------ search


@pytest.fixture
def family(client):
    """Five experiments sharing a unique prefix, with tags; one deleted."""
    prefix = unique("fam")
    ids = {}
    for suffix, team in [("c", "red"), ("a", "blue"), ("e", "red"), ("b", "green"), ("d", "blue")]:
        ids[suffix] = client.create_experiment(f"{prefix}-{suffix}", tags={"team": team})
        time.sleep(0.005)  # distinct creation times, so the default order is well defined
    client.delete_experiment(ids["d"])
    return prefix, ids


def _names(experiments):
    return [e.name for e in experiments]


def test_search_experiments_by_name_like(client, family):
    prefix, ids = family
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", order_by=["name ASC"])
    assert _names(found) == [f"{prefix}-{s}" for s in "abce"]
    # LIKE is case-sensitive, ILIKE is not
    assert client.search_experiments(filter_string=f"name LIKE '{prefix.upper()}%'") == []
    found = client.search_experiments(filter_string=f"name ILIKE '{prefix.upper()}%'")
    assert len(found) == 4
    assert _names(client.search_experiments(filter_string=f"name = '{prefix}-e'")) == [f"{prefix}-e"]
    assert set(_names(client.search_experiments(
        filter_string=f"name LIKE '{prefix}%' AND name != '{prefix}-e'"))) == {f"{prefix}-{s}" for s in "abc"}


def test_search_experiments_by_tag(client, family):
    prefix, ids = family
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.team = 'red'")
    assert set(_names(found)) == {f"{prefix}-c", f"{prefix}-e"}
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.team LIKE 'b%'",
                                      view_type=ViewType.ALL)
    assert set(_names(found)) == {f"{prefix}-a", f"{prefix}-d"}
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.team != 'red'")
    assert set(_names(found)) == {f"{prefix}-a", f"{prefix}-b"}
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.`team` = 'green'")
    assert _names(found) == [f"{prefix}-b"]
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.nope = 'x'")
    assert found == []


def test_search_experiments_order_by(client, family):
    prefix, ids = family
    flt = f"name LIKE '{prefix}%'"
    assert _names(client.search_experiments(filter_string=flt, order_by=["name DESC"])) == \
        [f"{prefix}-{s}" for s in "ecba"]
    # default order: newest first
    assert _names(client.search_experiments(filter_string=flt)) == [f"{prefix}-{s}" for s in "beac"]
    by_id = client.search_experiments(filter_string=flt, order_by=["experiment_id ASC"])
    assert [e.experiment_id for e in by_id] == sorted((ids[s] for s in "abce"), key=int)
    by_time = client.search_experiments(filter_string=flt, order_by=["creation_time ASC"])
    assert _names(by_time) == [f"{prefix}-{s}" for s in "caeb"]


def test_search_experiments_view_type(client, family):
    prefix, ids = family
    flt = f"name LIKE '{prefix}%'"
    active = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, filter_string=flt)
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=flt)
    everything = client.search_experiments(view_type=ViewType.ALL, filter_string=flt)
    assert set(_names(active)) == {f"{prefix}-{s}" for s in "abce"}
    assert _names(deleted) == [f"{prefix}-d"]
    assert deleted[0].lifecycle_stage == "deleted"
    assert set(_names(everything)) == {f"{prefix}-{s}" for s in "abcde"}
    # the fluent API agrees
    assert set(_names(mlflow.search_experiments(view_type=ViewType.ALL, filter_string=flt))) == \
        {f"{prefix}-{s}" for s in "abcde"}


def test_search_experiments_paging(client):
    prefix = unique("page")
    created = [client.create_experiment(f"{prefix}-{i:02d}") for i in range(13)]
    seen, token, pages = [], None, 0
    while True:
        page = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", max_results=4,
                                         order_by=["name ASC"], page_token=token)
        assert len(page) <= 4
        seen.extend(e.experiment_id for e in page)
        pages += 1
        token = page.token
        if not token:
            break
        assert pages < 10, "paging does not terminate"
    assert pages == 4
    assert seen == created  # names sort like creation order, no duplicates, nothing missing
    # the last page carries no token
    last = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", max_results=13)
    assert len(last) == 13 and not last.token


def test_search_experiments_paging_without_order(client):
    prefix = unique("page2")
    created = {client.create_experiment(f"{prefix}-{i}") for i in range(9)}
    seen, token = [], None
    for _ in range(10):
        page = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", max_results=2,
                                         page_token=token)
        seen.extend(e.experiment_id for e in page)
        token = page.token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 9
    assert set(seen) == created


def test_experiment_names_are_exact(client):
    """Names with spaces, slashes, wildcards and case differences are looked up exactly."""
    tag = unique("")
    odd = f"Team A / exp ü 100%_x{tag}"
    upper, lower = f"CaseExp{tag}", f"caseexp{tag}"
    odd_id = mlflow.set_experiment(odd).experiment_id
    upper_id = client.create_experiment(upper)
    lower_id = client.create_experiment(lower)
    assert len({odd_id, upper_id, lower_id}) == 3
    assert client.get_experiment_by_name(odd).experiment_id == odd_id
    assert client.get_experiment_by_name(upper).experiment_id == upper_id
    assert client.get_experiment_by_name(lower).experiment_id == lower_id
    # wildcard characters in a name are not wildcards in a lookup
    assert client.get_experiment_by_name(f"Team A / exp ü 1%_x{tag}") is None
    assert client.get_experiment_by_name(f"Team A / exp ü 100%_y{tag}") is None
    assert mlflow.set_experiment(odd).experiment_id == odd_id
    assert [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{upper}'")] == [upper_id]
