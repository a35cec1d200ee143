"""The limits and naming rules the official server enforces (mlflow/utils/validation.py)."""
from __future__ import annotations

import functools
import posixpath
import re

from ..errors import invalid

MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_ENTITIES = 1000
MAX_BATCH_REQUEST_BYTES = 1024 * 1024
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_RUN_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 5000
MAX_RUN_NAME_LENGTH = 250
MAX_ARTIFACT_LOCATION_LENGTH = 2000  # the column's (the official server's limit is 2048)
MAX_SEARCH_RESULTS = 50000
DEFAULT_SEARCH_RESULTS = 1000
MAX_BULK_INTERVAL_RUNS = 100
MAX_BULK_INTERVAL_RESULTS = 2500
DATASET_LIMITS = {"name": 500, "digest": 36, "source_type": 36, "source": 65535, "schema": 1048575,
                  "profile": 16777215}
DATASET_REQUIRED = ("name", "digest", "source_type", "source")
MAX_INPUT_TAG_KEY_LENGTH = 255
MAX_INPUT_TAG_VALUE_LENGTH = 500
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_KEY_PATTERN = re.compile(r"^[/\w.\- :]*$")


@functools.lru_cache(maxsize=4096)  # keys repeat: a batch often logs one key 1000 times
def check_key(key, what: str) -> str:
    """A metric, param or tag key: word characters, / . - space and colon, a normalised path."""
    if not isinstance(key, str) or key == "":
        raise invalid(f"Missing value for required parameter 'key' of the {what}.")
    if len(key) > MAX_KEY_LENGTH:
        raise invalid(f"{what.capitalize()} key '{key[:50]}...' had length {len(key)}, "
                      f"which exceeded length limit of {MAX_KEY_LENGTH}")
    if not _KEY_PATTERN.match(key):
        raise invalid(f"Invalid {what} name: '{key}'. Names may only contain alphanumerics, "
                      f"underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).")
    normalised = posixpath.normpath(key)
    if normalised != key or key.startswith("/") or normalised == "." or normalised.startswith(".."):
        raise invalid(f"Invalid {what} name: '{key}'. Names may be treated as files in certain "
                      f"cases, and must not resolve to other names when treated as such. "
                      f"This name would resolve to '{normalised}'")
    return key


def check_value_length(value, limit: int, what: str, key: str) -> str:
    if value is None:
        raise invalid(f"Missing value for required parameter 'value' of {what} '{key}'.")
    value = str(value)
    if len(value) > limit:
        raise invalid(f"{what.capitalize()} value '{value[:50]}...' for key '{key}' had length "
                      f"{len(value)}, which exceeded length limit of {limit}")
    return value


def check_metric(key, value, timestamp, step) -> None:
    check_key(key, "metric")
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"Got invalid value {value!r} for metric '{key}' (timestamp={timestamp}). "
                      f"Please specify value as a valid double (64-bit floating point)")
    if not isinstance(timestamp, int) or timestamp < 0 or timestamp > INT64_MAX:
        raise invalid(f"Got invalid timestamp {timestamp!r} for metric '{key}' (value={value}). "
                      f"Timestamp must be a non-negative long (64-bit integer)")
    if not isinstance(step, int) or not INT64_MIN <= step <= INT64_MAX:
        raise invalid(f"Got invalid step {step!r} for metric '{key}' (value={value}). "
                      f"Step must be a valid long (64-bit integer).")


def check_experiment_name(name) -> str:
    if not isinstance(name, str) or name.strip() == "":
        raise invalid("Invalid experiment name: must be a non-empty string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise invalid(f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters.")
    return name


def check_run_name(name) -> None:
    if name is not None and len(name) > MAX_RUN_NAME_LENGTH:
        raise invalid(f"Run name '{name[:50]}...' had length {len(name)}, which exceeded "
                      f"length limit of {MAX_RUN_NAME_LENGTH}")


def check_max_results(max_results, default: int, limit: int) -> int:
    if max_results is None:
        return default
    if max_results < 1 or max_results > limit:
        raise invalid(f"Invalid value {max_results} for parameter 'max_results' supplied. "
                      f"It must be at most {limit}, and at least 1.")
    return max_results


def check_dataset(dataset) -> dict:
    if not isinstance(dataset, dict):
        raise invalid("Each dataset input needs a 'dataset' with name, digest, source_type and source.")
    for field in DATASET_REQUIRED:
        if not dataset.get(field):
            raise invalid(f"Missing value for required parameter 'dataset.{field}'.")
    for field, limit in DATASET_LIMITS.items():
        if dataset.get(field) is not None and len(dataset[field]) > limit:
            raise invalid(f"Dataset {field} of length {len(dataset[field])} exceeds the limit of {limit}.")
    return dataset


def check_input_tag(key, value) -> tuple[str, str]:
    if not key:
        raise invalid("Missing value for required parameter 'key' of an input tag.")
    if value is None:
        raise invalid(f"Missing value for required parameter 'value' of input tag '{key}'.")
    if len(key) > MAX_INPUT_TAG_KEY_LENGTH or len(value) > MAX_INPUT_TAG_VALUE_LENGTH:
        raise invalid(f"Input tag '{key[:50]}' exceeds the limits of {MAX_INPUT_TAG_KEY_LENGTH} characters "
                      f"for the key and {MAX_INPUT_TAG_VALUE_LENGTH} for the value.")
    return key, value
