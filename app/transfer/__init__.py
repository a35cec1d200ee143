"""Moving data in and out: `db import` from an official MLflow database or file store, and
`db export` to an official MLflow database."""
