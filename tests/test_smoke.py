from conftest import unique


def test_server_answers_health_and_default_experiment(server, client):
    assert client.get_experiment("0").name == "Default"
    exp = client.create_experiment(unique())
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "m", 1.5, step=3)
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}
