"""The model registry store: registered models, their versions, tags and aliases (prompts
are registered models too, tagged mlflow.prompt.is_prompt).

Methods take names and version numbers and return dictionaries shaped like the REST API's
JSON. A registered model is keyed by a surrogate id, so a rename updates one row; versions are
numbered from the model's last_version counter, raised in the same transaction that inserts
the version, so concurrent creates get distinct numbers and a deleted number is never reused.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import already_exists, not_found
from . import search_sql
from .db import Database
from .filters import Clause, OrderBy
from .pages import decode_keyset_token, encode_keyset_token
from .schema import (
    model_version_tags, model_versions, registered_model_aliases, registered_model_tags, registered_models,
)
from .upsert import upsert

PROMPT_TAG = "mlflow.prompt.is_prompt"
STAGES = ("None", "Staging", "Production", "Archived")
READY = "READY"

rm, mv = registered_models.c, model_versions.c
_VERSION_COLUMNS = (*model_versions.c, rm.name)
_VERSION_FIELDS = ("description", "user_id", "run_id", "run_link", "status_message", "model_id")
_CHUNK = 500  # versions whose tags one query reads: a search page may hold 200,000
# read with a model or version row: writes report whether they changed a prompt (for webhooks)
_IS_PROMPT = sa.exists().where(registered_model_tags.c.registered_model_id == rm.id,
                               registered_model_tags.c.key == PROMPT_TAG,
                               sa.func.lower(registered_model_tags.c.value) == "true").label("is_prompt")


def _is_prompt(tags: dict) -> bool:
    return tags.get(PROMPT_TAG, "").lower() == "true"


def _name_taken(name: str, existing_is_prompt: bool, new_is_prompt: bool):
    old, new = ("prompt" if p else "registered model" for p in (existing_is_prompt, new_is_prompt))
    if old != new:
        return already_exists(f"Tried to create a {new} with name '{name}', but the name is already taken by "
                              f"a {old}. MLflow does not allow creating a model and a prompt with the same name.")
    return already_exists(f"{'Prompt' if new_is_prompt else 'Registered Model'} (name={name}) already exists.")


class RegistryStore:
    def __init__(self, database: Database):
        self.db = database
        self.dialect = database.dialect

    # ------------------------------------------------------------ lookups

    @staticmethod
    def _model(conn, name: str):
        row = conn.execute(sa.select(registered_models, _IS_PROMPT).where(rm.name == name)).first()
        if row is None:
            raise not_found(f"Registered Model with name={name} not found")
        return row

    def _version(self, conn, name: str, version: int):
        row = conn.execute(sa.select(*_VERSION_COLUMNS, _IS_PROMPT).join_from(model_versions, registered_models)
                           .where(rm.name == name, mv.version == version)).first()
        if row is None:
            self._model(conn, name)
            raise not_found(f"Model Version (name={name}, version={version}) not found")
        return row

    def _model_tags(self, conn, name: str) -> dict:
        row = self._model(conn, name)
        return dict(conn.execute(sa.select(registered_model_tags.c.key, registered_model_tags.c.value)
                                 .where(registered_model_tags.c.registered_model_id == row.id)).all())

    # ------------------------------------------------------------ JSON

    @staticmethod
    def _versions_json(conn, rows) -> list[dict]:
        """Versions (rows of _VERSION_COLUMNS) with their tags and aliases."""
        if not rows:
            return []
        keys = [(r.registered_model_id, r.version) for r in rows]
        tag_map, alias_map = {}, {}
        t, a = model_version_tags.c, registered_model_aliases.c
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            for row in conn.execute(sa.select(t.registered_model_id, t.version, t.key, t.value)
                                    .where(sa.tuple_(t.registered_model_id, t.version).in_(chunk))
                                    .order_by(t.key)):
                tag_map.setdefault((row.registered_model_id, row.version), []).append(
                    {"key": row.key, "value": row.value})
            for row in conn.execute(sa.select(a.registered_model_id, a.version, a.alias)
                                    .where(sa.tuple_(a.registered_model_id, a.version).in_(chunk))
                                    .order_by(a.alias)):
                alias_map.setdefault((row.registered_model_id, row.version), []).append(row.alias)
        result = []
        for row in rows:
            item = {"name": row.name, "version": str(row.version), "creation_timestamp": row.creation_time,
                    "last_updated_timestamp": row.last_updated_time, "current_stage": row.current_stage,
                    "source": row.source, "status": row.status}
            item.update({f: getattr(row, f) for f in _VERSION_FIELDS if getattr(row, f)})
            key = (row.registered_model_id, row.version)
            if key in tag_map:
                item["tags"] = tag_map[key]
            if key in alias_map:
                item["aliases"] = alias_map[key]
            result.append(item)
        return result

    def _latest_versions(self, conn, model_ids: list[int], stages=STAGES) -> list:
        """The highest version in each stage of each model, as rows of _VERSION_COLUMNS."""
        latest = (sa.select(mv.registered_model_id, sa.func.max(mv.version).label("version"))
                  .where(mv.registered_model_id.in_(model_ids), mv.current_stage.in_(stages))
                  .group_by(mv.registered_model_id, mv.current_stage).subquery())
        return conn.execute(
            sa.select(*_VERSION_COLUMNS).join_from(model_versions, registered_models)
            .join(latest, sa.and_(latest.c.registered_model_id == mv.registered_model_id,
                                  latest.c.version == mv.version))
            .order_by(mv.registered_model_id, mv.version)).all()

    def _models_json(self, conn, rows) -> list[dict]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        t, a = registered_model_tags.c, registered_model_aliases.c
        tag_map, alias_map, latest_map = {}, {}, {}
        for row in conn.execute(sa.select(t.registered_model_id, t.key, t.value)
                                .where(t.registered_model_id.in_(ids)).order_by(t.key)):
            tag_map.setdefault(row.registered_model_id, []).append({"key": row.key, "value": row.value})
        for row in conn.execute(sa.select(a.registered_model_id, a.alias, a.version)
                                .where(a.registered_model_id.in_(ids)).order_by(a.alias)):
            alias_map.setdefault(row.registered_model_id, []).append(
                {"alias": row.alias, "version": str(row.version)})
        latest = self._latest_versions(conn, ids)
        for row, item in zip(latest, self._versions_json(conn, latest)):
            latest_map.setdefault(row.registered_model_id, []).append(item)
        result = []
        for row in rows:
            item = {"name": row.name, "creation_timestamp": row.creation_time,
                    "last_updated_timestamp": row.last_updated_time}
            if row.description:
                item["description"] = row.description
            for field, found in (("latest_versions", latest_map), ("tags", tag_map), ("aliases", alias_map)):
                if row.id in found:
                    item[field] = found[row.id]
            result.append(item)
        return result

    def _model_json(self, conn, name: str) -> dict:
        return self._models_json(conn, [self._model(conn, name)])[0]

    def _version_json(self, conn, name: str, version: int) -> dict:
        return self._versions_json(conn, [self._version(conn, name, version)])[0]

    # ------------------------------------------------------------ registered models

    def create_registered_model(self, name: str, description: str | None, tag_pairs: list[tuple[str, str]],
                                now: int) -> dict:
        tags = dict(tag_pairs)

        def work(conn):
            if conn.execute(sa.select(rm.id).where(rm.name == name)).first():
                raise _name_taken(name, _is_prompt(self._model_tags(conn, name)), _is_prompt(tags))
            try:
                model_id = conn.execute(registered_models.insert().values(
                    name=name, creation_time=now, last_updated_time=now, description=description,
                    last_version=0)).inserted_primary_key[0]
            except IntegrityError:  # a concurrent create of the same name won
                raise _name_taken(name, _is_prompt(tags), _is_prompt(tags)) from None
            if tags:
                conn.execute(registered_model_tags.insert(), [
                    {"registered_model_id": model_id, "key": k, "value": v} for k, v in tags.items()])
            return self._model_json(conn, name)
        return self.db.write(work)

    def get_registered_model(self, name: str) -> dict:
        with self.db.read() as conn:
            return self._model_json(conn, name)

    def rename_registered_model(self, name: str, new_name: str, now: int) -> dict:
        def work(conn):
            row = self._model(conn, name)
            if new_name != name and conn.execute(sa.select(rm.id).where(rm.name == new_name)).first():
                raise already_exists(f"Registered Model (name={new_name}) already exists.")
            try:
                conn.execute(registered_models.update().where(rm.id == row.id)
                             .values(name=new_name, last_updated_time=now))
            except IntegrityError:
                raise already_exists(f"Registered Model (name={new_name}) already exists.") from None
            return self._model_json(conn, new_name)
        return self.db.write(work)

    def update_registered_model(self, name: str, description: str | None, now: int) -> dict:
        def work(conn):
            row = self._model(conn, name)
            conn.execute(registered_models.update().where(rm.id == row.id)
                         .values(description=description, last_updated_time=now))
            return self._model_json(conn, name)
        return self.db.write(work)

    def delete_registered_model(self, name: str) -> None:
        """The model goes with its versions, tags and aliases (foreign keys cascade)."""
        def work(conn):
            conn.execute(registered_models.delete().where(rm.id == self._model(conn, name).id))
        self.db.write(work)

    def set_registered_model_tag(self, name: str, key: str, value: str | None) -> bool:
        """Set a tag, or delete it when value is None (a missing tag is no error, as officially);
        whether the model is a prompt."""
        def work(conn):
            row = self._model(conn, name)
            self._set_or_delete_tag(conn, registered_model_tags, {"registered_model_id": row.id}, key, value)
            return bool(row.is_prompt)
        return self.db.write(work)

    def search_registered_models(self, clauses: list[Clause], prompts: bool, order_by: list[OrderBy],
                                 max_results: int, page_token: str | None) -> tuple[list[dict], str | None]:
        keys = search_sql.registered_model_order(order_by)
        where = search_sql.registered_model_filter(clauses)
        if not prompts:
            where.append(~self._prompt_model(rm.id))
        search = ("registered_models", clauses, prompts, order_by)
        if page_token:
            where.append(search_sql.after(keys, decode_keyset_token(page_token, search, keys)))
        query = (sa.select(registered_models).where(*where).order_by(*search_sql.order_clauses(keys))
                 .limit(max_results + 1))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            token = None
            if len(rows) > max_results:
                rows = rows[:max_results]
                token = encode_keyset_token(search, [getattr(rows[-1], column.name) for column, _ in keys])
            return self._models_json(conn, rows), token

    @staticmethod
    def _prompt_model(model_id):
        t = registered_model_tags.c
        return sa.exists().where(t.registered_model_id == model_id, t.key == PROMPT_TAG, t.value == "true")

    def latest_versions(self, name: str, stages: tuple[str, ...]) -> list[dict]:
        with self.db.read() as conn:
            return self._versions_json(conn, self._latest_versions(conn, [self._model(conn, name).id], stages))

    # ------------------------------------------------------------ aliases

    def set_alias(self, name: str, alias: str, version: int) -> bool:
        """Whether the model is a prompt."""
        def work(conn):
            row = self._version(conn, name, version)
            conn.execute(upsert(self.dialect, registered_model_aliases, ["registered_model_id", "alias"], ["version"]),
                         {"registered_model_id": row.registered_model_id, "alias": alias, "version": version})
            return bool(row.is_prompt)
        return self.db.write(work)

    def delete_alias(self, name: str, alias: str) -> bool:
        """Whether the model is a prompt."""
        a = registered_model_aliases.c

        def work(conn):
            row = self._model(conn, name)
            conn.execute(registered_model_aliases.delete().where(a.registered_model_id == row.id, a.alias == alias))
            return bool(row.is_prompt)
        return self.db.write(work)

    def version_by_alias(self, name: str, alias: str) -> dict:
        a = registered_model_aliases.c
        with self.db.read() as conn:
            model_id = self._model(conn, name).id
            version = conn.execute(sa.select(a.version).where(a.registered_model_id == model_id,
                                                              a.alias == alias)).scalar()
            if version is None:
                raise not_found(f"Registered model alias {alias} not found.")
            return self._version_json(conn, name, version)

    def newest_version(self, name: str) -> dict:
        with self.db.read() as conn:
            version = conn.execute(sa.select(sa.func.max(mv.version)).where(
                mv.registered_model_id == self._model(conn, name).id)).scalar()
            if version is None:
                raise not_found(f"Latest version not found for model {name}.")
            return self._version_json(conn, name, version)

    # ------------------------------------------------------------ model versions

    def create_model_version(self, name: str, fields: dict, tag_pairs: list[tuple[str, str]], now: int) -> dict:
        """fields: source, storage_location, run_id, run_link, description, model_id."""
        def work(conn):
            model_id = self._model(conn, name).id
            # the UPDATE locks the model's row until commit: concurrent creates queue here
            conn.execute(registered_models.update().where(rm.id == model_id).values(
                last_version=rm.last_version + 1, last_updated_time=now))
            version = conn.execute(sa.select(rm.last_version).where(rm.id == model_id)).scalar()
            conn.execute(model_versions.insert().values(
                registered_model_id=model_id, version=version, creation_time=now, last_updated_time=now,
                current_stage="None", status=READY, **fields))
            if tag_pairs:
                conn.execute(model_version_tags.insert(), [
                    {"registered_model_id": model_id, "version": version, "key": k, "value": v}
                    for k, v in dict(tag_pairs).items()])
            return self._version_json(conn, name, version)
        return self.db.write(work)

    def get_model_version(self, name: str, version: int) -> dict:
        with self.db.read() as conn:
            return self._version_json(conn, name, version)

    def version_location(self, name: str, version: int) -> tuple[str, str | None, str | None]:
        """(where the version's files are, its run_id, its model_id)."""
        with self.db.read() as conn:
            row = self._version(conn, name, version)
        return row.storage_location or row.source, row.run_id, row.model_id

    def update_model_version(self, name: str, version: int, description: str | None, now: int) -> dict:
        def work(conn):
            row = self._version(conn, name, version)
            conn.execute(model_versions.update().where(mv.registered_model_id == row.registered_model_id,
                                                       mv.version == version)
                         .values(description=description, last_updated_time=now))
            return self._version_json(conn, name, version)
        return self.db.write(work)

    def transition_stage(self, name: str, version: int, stage: str, archive_existing: bool, now: int) -> dict:
        def work(conn):
            model_id = self._version(conn, name, version).registered_model_id
            if archive_existing:
                conn.execute(model_versions.update().where(
                    mv.registered_model_id == model_id, mv.version != version, mv.current_stage == stage)
                    .values(current_stage="Archived", last_updated_time=now))
            conn.execute(model_versions.update().where(mv.registered_model_id == model_id, mv.version == version)
                         .values(current_stage=stage, last_updated_time=now))
            conn.execute(registered_models.update().where(rm.id == model_id).values(last_updated_time=now))
            return self._version_json(conn, name, version)
        return self.db.write(work)

    def delete_model_version(self, name: str, version: int, now: int) -> None:
        """The version goes with its tags and the aliases pointing at it (foreign keys cascade)."""
        def work(conn):
            model_id = self._version(conn, name, version).registered_model_id
            conn.execute(model_versions.delete().where(mv.registered_model_id == model_id, mv.version == version))
            conn.execute(registered_models.update().where(rm.id == model_id).values(last_updated_time=now))
        self.db.write(work)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str | None) -> bool:
        """Set a tag, or delete it when value is None (a missing tag is no error, as officially);
        whether the model is a prompt."""
        def work(conn):
            row = self._version(conn, name, version)
            owner = {"registered_model_id": row.registered_model_id, "version": version}
            self._set_or_delete_tag(conn, model_version_tags, owner, key, value)
            return bool(row.is_prompt)
        return self.db.write(work)

    def _set_or_delete_tag(self, conn, table: sa.Table, owner: dict, key: str, value: str | None) -> None:
        """owner: the tag table's columns naming the tagged row, with their values."""
        if value is None:
            conn.execute(table.delete().where(*(table.c[column] == v for column, v in owner.items()),
                                              table.c.key == key))
        else:
            conn.execute(upsert(self.dialect, table, [*owner, "key"], ["value"]), {**owner, "key": key, "value": value})

    def search_model_versions(self, clauses: list[Clause], prompts: bool, order_by: list[OrderBy],
                              max_results: int, page_token: str | None) -> tuple[list[dict], str | None]:
        keys = search_sql.model_version_order(order_by)
        where = search_sql.model_version_filter(clauses)
        if not prompts:
            t = model_version_tags.c
            where += [~self._prompt_model(mv.registered_model_id),
                      ~sa.exists().where(t.registered_model_id == mv.registered_model_id, t.version == mv.version,
                                         t.key == PROMPT_TAG, t.value == "true")]
        search = ("model_versions", clauses, prompts, order_by)
        if page_token:
            where.append(search_sql.after(keys, decode_keyset_token(page_token, search, keys)))
        query = (sa.select(*_VERSION_COLUMNS).join_from(model_versions, registered_models).where(*where)
                 .order_by(*search_sql.order_clauses(keys)).limit(max_results + 1))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            token = None
            if len(rows) > max_results:
                rows = rows[:max_results]
                token = encode_keyset_token(search, [getattr(rows[-1], column.name) for column, _ in keys])
            return self._versions_json(conn, rows), token
