"""OTLP/HTTP trace export (POST /v1/traces). (Being built.)"""
from __future__ import annotations

from flask import Flask

from ..services.traces import TraceService


def register(app: Flask, service: TraceService, prefix: str = "") -> None:
    pass
