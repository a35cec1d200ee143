"""Small helpers shared by the tracking tests (raw HTTP and official-client checks)."""
from __future__ import annotations


import pytest
from mlflow.exceptions import MlflowException


from api_checks import assert_error, assert_ok, now_ms, raw_experiment, raw_run  # noqa: F401


def raw_get_run(api, run_id: str) -> dict:
    return assert_ok(api.get("runs/get", params={"run_id": run_id}))["run"]


def as_dict(entries) -> dict:
    """Proto-JSON key/value list (params, tags, metrics) as a dict."""
    return {e["key"]: e["value"] for e in entries or []}


def raises_mlflow(code: str | None = None):
    """pytest.raises for an MlflowException, checked for the error code afterwards."""
    class _Ctx:
        def __enter__(self):
            self._cm = pytest.raises(MlflowException)
            self.info = self._cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self._cm.__exit__(*exc)
            if code is not None:
                assert self.info.value.error_code == code, (self.info.value.error_code, str(self.info.value))
            return result
    return _Ctx()
