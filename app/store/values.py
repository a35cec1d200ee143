"""How metric values are stored, and how they travel in proto JSON."""
import math
import sys

import orjson

DOUBLE_MAX = sys.float_info.max


def encode_value(value: float) -> tuple[float, bool]:
    """(stored value, is_nan): NaN becomes (0, True), +-inf becomes +-DOUBLE_MAX."""
    value = float(value)
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return math.copysign(DOUBLE_MAX, value), False
    return value, False


def wire_value(value: float, is_nan: bool):
    """The proto JSON form of a stored value: a number, or "NaN" / "Infinity" / "-Infinity"."""
    if is_nan:
        return "NaN"
    if value >= DOUBLE_MAX:
        return "Infinity"
    if value <= -DOUBLE_MAX:
        return "-Infinity"
    return value



def metric_json(key: str, value: float, is_nan: bool, timestamp: int, step: int) -> str:
    """A stored point as the JSON object of a run's metric."""
    return orjson.dumps({"key": key, "value": wire_value(value, is_nan), "timestamp": timestamp,
                         "step": step}).decode()
