"""MLflow's error model: an error code, its HTTP status, a message for the user."""

STATUS_BY_CODE = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "INVALID_STATE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_CONFLICT": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
}


class MlflowError(Exception):
    def __init__(self, message: str, error_code: str = "INVALID_PARAMETER_VALUE", status: int | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status = status or STATUS_BY_CODE.get(error_code, 500)
        self.headers = headers or {}  # e.g. WWW-Authenticate of a 401

    def to_json(self) -> dict:
        # a message may echo what a client sent: an unpaired surrogate in it is shown escaped,
        # since JSON in UTF-8 cannot carry one
        return {"error_code": self.error_code,
                "message": self.message.encode("utf-8", "backslashreplace").decode("utf-8")}


def invalid(message: str) -> MlflowError:
    return MlflowError(message, "INVALID_PARAMETER_VALUE")


def not_found(message: str) -> MlflowError:
    return MlflowError(message, "RESOURCE_DOES_NOT_EXIST")


def already_exists(message: str) -> MlflowError:
    return MlflowError(message, "RESOURCE_ALREADY_EXISTS")
