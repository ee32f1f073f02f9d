"""The DynamoDB plumbing the backend and the shared rate limits stand on: a client, the value codec, update
expressions, transactions that retry their conflicts, paged queries, and the start-time table check.

Values: DynamoDB numbers are decimals, so floats go in as Decimal(repr(x)) (exact round trip) and come out as
int when integral in form, float otherwise; None is never stored (an attribute is removed instead), so
`attribute_not_exists` means what SQL's IS NULL meant.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .dynamo_tables import TABLES, Table, create_table_request

SCHEMA_VERSION = 1  # of the DynamoDB key design (dynamo_tables); create-tables records it in the admin table
CONFLICT_TRIES = 12  # transactions retried after a TransactionConflict (another transaction held an item)


class TablesMissing(RuntimeError):
    """The tables are not there (or not reachable): the message says what to run."""


class Cancelled(Exception):
    """A transaction's condition failed: `reasons` holds each item's code ("None" where it held)."""

    def __init__(self, reasons: list[str]):
        super().__init__(", ".join(reasons))
        self.reasons = reasons


def dump(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [dump(v) for v in value]
    return value


def load(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, dict):
        return {k: load(v) for k, v in value.items()}
    if isinstance(value, list):
        return [load(v) for v in value]
    if isinstance(value, set):
        return {load(v) for v in value}
    return value


@dataclass
class Update:
    """One UpdateItem's expression, built from plain values: set (None removes), add (atomic counters), a
    condition written with #name and :value placeholders the caller fills through names and values."""

    sets: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, Any] = field(default_factory=dict)
    condition: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def request(self) -> dict[str, Any]:
        names, values = dict(self.names), dict(self.values)
        sets, removes, adds = [], [], []

        def path(attr: str) -> str:
            # a.b.c or a[0].b: every part named through a placeholder (reserved words: state, round, ...)
            out = []
            for part in attr.split("."):
                base, _, index = part.partition("[")
                token = f"#p{len(names)}"
                names[token] = base
                out.append(token + (f"[{index}" if index else ""))
            return ".".join(out)

        for attr, value in self.sets.items():
            if value is None:
                removes.append(path(attr))
            else:
                token = f":v{len(values)}"
                values[token] = value
                sets.append(f"{path(attr)} = {token}")
        for attr, value in self.adds.items():
            token = f":v{len(values)}"
            values[token] = value
            adds.append(f"{path(attr)} {token}")
        expression = " ".join(
            f"{word} {', '.join(parts)}" for word, parts in (("SET", sets), ("REMOVE", removes), ("ADD", adds)) if parts
        )
        request: dict[str, Any] = {"UpdateExpression": expression}
        if self.condition:
            request["ConditionExpression"] = self.condition
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        return request


class Dynamo:
    """A low-level client on one deployment's tables (prefix) with the codec applied both ways."""

    def __init__(self, prefix: str, endpoint_url: str | None = None, region: str | None = None,
                 agent: str | None = None):
        import boto3
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
        from botocore.config import Config

        self.prefix = prefix
        self.client = boto3.client(
            "dynamodb", endpoint_url=endpoint_url or None, region_name=region or None,
            config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10,
                          max_pool_connections=64, user_agent_extra=agent),
        )
        self._ser, self._de = TypeSerializer(), TypeDeserializer()
        self.calls: dict[str, int] = {}  # operation -> requests made (bench-api counts a cycle's cost)
        self.capacity = 0.0  # consumed capacity units reported back
        self.client.meta.events.register("after-call.dynamodb", self._count)

    def _count(self, model, parsed, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1
        consumed = parsed.get("ConsumedCapacity") if isinstance(parsed, dict) else None
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            self.capacity += float(entry.get("CapacityUnits", 0))

    def name(self, table: str) -> str:
        return self.prefix + table

    # -- the codec --------------------------------------------------------------------------------

    def item(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(dump(v)) for k, v in row.items() if v is not None}

    def value(self, v: Any) -> dict[str, Any]:
        return self._ser.serialize(dump(v))

    def row(self, item: dict[str, Any] | None) -> dict[str, Any] | None:
        if item is None:
            return None
        return {k: load(self._de.deserialize(v)) for k, v in item.items()}

    # -- single items -----------------------------------------------------------------------------

    def get(self, table: str, projection: str | None = None, **key: Any) -> dict[str, Any] | None:
        request: dict[str, Any] = {"TableName": self.name(table), "Key": self.item(key), "ConsistentRead": True,
                                   "ReturnConsumedCapacity": "TOTAL"}
        if projection:
            request["ProjectionExpression"] = projection
        return self.row(self.client.get_item(**request).get("Item"))

    def put(self, table: str, row: dict[str, Any], condition: str | None = None,
            values: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> bool:
        """Put an item; False when the condition failed."""
        request = self._conditioned({"TableName": self.name(table), "Item": self.item(row)}, condition, values, names)
        try:
            self.client.put_item(**request, ReturnConsumedCapacity="TOTAL")
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def update(self, table: str, key: dict[str, Any], update: Update, returns: str = "NONE") -> dict | bool | None:
        """Apply an update; False when its condition failed, else True (or the returned attributes)."""
        request = self._encoded(update.request())
        try:
            answer = self.client.update_item(TableName=self.name(table), Key=self.item(key), ReturnValues=returns,
                                             ReturnConsumedCapacity="TOTAL", **request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return self.row(answer.get("Attributes")) if returns != "NONE" else True

    def delete(self, table: str, key: dict[str, Any], condition: str | None = None,
               values: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> bool:
        request = self._conditioned({"TableName": self.name(table), "Key": self.item(key)}, condition, values, names)
        try:
            self.client.delete_item(**request, ReturnConsumedCapacity="TOTAL")
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def batch_get(self, table: str, keys: list[dict[str, Any]], consistent: bool = True) -> list[dict[str, Any]]:
        """The items of these keys that exist (any order), 100 keys a request."""
        found: list[dict[str, Any]] = []
        unique = list({tuple(sorted(k.items())): k for k in keys}.values())
        for start in range(0, len(unique), 100):
            pending = {self.name(table): {"Keys": [self.item(k) for k in unique[start:start + 100]],
                                          "ConsistentRead": consistent}}
            while pending:
                answer = self.client.batch_get_item(RequestItems=pending, ReturnConsumedCapacity="TOTAL")
                found += [self.row(i) for i in answer.get("Responses", {}).get(self.name(table), [])]
                pending = answer.get("UnprocessedKeys") or {}
        return found

    # -- many items -------------------------------------------------------------------------------

    def query(self, table: str, key_condition: str, values: dict[str, Any], index: str | None = None,
              names: dict[str, str] | None = None, filter: str | None = None, forward: bool = True,
              limit: int | None = None, projection: str | None = None,
              page: int | None = None) -> Iterator[dict[str, Any]]:
        """Every matching item, page after page (limit: the most returned; page: items read per request)."""
        request: dict[str, Any] = {"TableName": self.name(table), "KeyConditionExpression": key_condition,
                                   "ScanIndexForward": forward, "ReturnConsumedCapacity": "TOTAL"}
        request.update(self._expression(values, names, filter, projection))
        if index:
            request["IndexName"] = index
        else:
            request["ConsistentRead"] = True  # base tables read their own writes; indexes cannot
        if limit or page:
            request["Limit"] = limit or page
        yielded = 0
        while True:
            answer = self.client.query(**request)
            for item in answer.get("Items", []):
                yield self.row(item)
                yielded += 1
                if limit and yielded >= limit:
                    return
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def count(self, table: str, key_condition: str, values: dict[str, Any], index: str | None = None,
              at_most: int | None = None) -> int:
        """Items matching, counted by the service (no items sent back); stops once at_most are counted."""
        request: dict[str, Any] = {"TableName": self.name(table), "KeyConditionExpression": key_condition,
                                   "Select": "COUNT", "ReturnConsumedCapacity": "TOTAL"}
        request.update(self._expression(values, None, None, None))
        if index:
            request["IndexName"] = index
        total = 0
        while True:
            if at_most:
                request["Limit"] = at_most - total
            answer = self.client.query(**request)
            total += answer.get("Count", 0)
            if "LastEvaluatedKey" not in answer or (at_most and total >= at_most):
                return total
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def scan(self, table: str, filter: str | None = None, values: dict[str, Any] | None = None,
             names: dict[str, str] | None = None, projection: str | None = None) -> Iterator[dict[str, Any]]:
        """Every item (of the filter): for start-time repair, listings and the dashboard, never a visitor."""
        request: dict[str, Any] = {"TableName": self.name(table), "ConsistentRead": True,
                                   "ReturnConsumedCapacity": "TOTAL"}
        request.update(self._expression(values or {}, names, filter, projection))
        while True:
            answer = self.client.scan(**request)
            for item in answer.get("Items", []):
                yield self.row(item)
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # -- transactions -----------------------------------------------------------------------------

    def put_op(self, table: str, row: dict[str, Any], condition: str | None = None,
               values: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> dict[str, Any]:
        return {"Put": self._conditioned({"TableName": self.name(table), "Item": self.item(row)}, condition, values,
                                         names)}

    def update_op(self, table: str, key: dict[str, Any], update: Update) -> dict[str, Any]:
        return {"Update": {"TableName": self.name(table), "Key": self.item(key), **self._encoded(update.request())}}

    def delete_op(self, table: str, key: dict[str, Any], condition: str | None = None,
                  values: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> dict[str, Any]:
        return {"Delete": self._conditioned({"TableName": self.name(table), "Key": self.item(key)}, condition, values,
                                            names)}

    def check_op(self, table: str, key: dict[str, Any], condition: str, values: dict[str, Any] | None = None,
                 names: dict[str, str] | None = None) -> dict[str, Any]:
        return {"ConditionCheck": self._conditioned({"TableName": self.name(table), "Key": self.item(key)}, condition,
                                                    values, names)}

    def transact(self, operations: list[dict[str, Any]]) -> None:
        """All of them or none; Cancelled when a condition failed. A conflict with another transaction on one of
        the items is retried with a short random wait: it says nothing about the conditions."""
        for attempt in range(CONFLICT_TRIES):
            try:
                self.client.transact_write_items(TransactItems=operations, ReturnConsumedCapacity="TOTAL")
                return
            except self.client.exceptions.TransactionCanceledException as e:
                reasons = [r.get("Code", "None") for r in e.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in reasons or attempt == CONFLICT_TRIES - 1:
                    raise Cancelled(reasons) from None
                time.sleep(random.uniform(0.005, 0.02 * (attempt + 1)))

    # -- the tables -------------------------------------------------------------------------------

    def missing_tables(self) -> list[str]:
        """Tables of the key design this deployment lacks."""
        names: set[str] = set()
        for page in self.client.get_paginator("list_tables").paginate():
            names.update(page["TableNames"])
        return [t.full_name(self.prefix) for t in TABLES if t.full_name(self.prefix) not in names]

    def check(self) -> None:
        """At start: every table there, at our key design's version; TablesMissing says what to do."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            missing = self.missing_tables()
            version = None if missing else (self.get("admin", pk="schema", sk=0) or {}).get("version")
        except (BotoCoreError, ClientError) as e:
            raise TablesMissing(f"DynamoDB is not reachable ({e}): check INSIDEOUT_DYNAMODB_ENDPOINT_URL, the "
                                "region (AWS_DEFAULT_REGION) and the credentials") from None
        if missing:
            raise TablesMissing(
                f"DynamoDB tables missing: {', '.join(missing)}. Create them with `insideout dynamodb create-tables` "
                "(development) or deploy the stack in deploy/aws (production)"
            )
        if version != SCHEMA_VERSION:
            raise TablesMissing(f"the DynamoDB tables (prefix {self.prefix!r}) are at key design version {version}, "
                                f"this code needs {SCHEMA_VERSION}: run `insideout dynamodb create-tables`")

    def create_tables(self, point_in_time_recovery: bool = False) -> list[str]:
        """Create the tables that are missing (on-demand), wait for them, turn TTL on; returns those created."""
        created = []
        missing = set(self.missing_tables())
        for table in TABLES:
            full = table.full_name(self.prefix)
            if full in missing:
                self.client.create_table(**create_table_request(table, self.prefix))
                created.append(full)
        for table in TABLES:
            full = table.full_name(self.prefix)
            self.client.get_waiter("table_exists").wait(TableName=full, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            if full in created:
                self._configure(table, point_in_time_recovery)
        self.put("admin", {"pk": "schema", "sk": 0, "version": SCHEMA_VERSION})
        return created

    def _configure(self, table: Table, point_in_time_recovery: bool) -> None:
        full = table.full_name(self.prefix)
        if table.ttl:
            self.client.update_time_to_live(
                TableName=full, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl})
        if point_in_time_recovery:
            self.client.update_continuous_backups(
                TableName=full, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})

    # -- helpers ----------------------------------------------------------------------------------

    def _expression(self, values: dict[str, Any], names: dict[str, str] | None, filter: str | None,
                    projection: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if values:
            out["ExpressionAttributeValues"] = {k: self.value(v) for k, v in values.items()}
        if names:
            out["ExpressionAttributeNames"] = names
        if filter:
            out["FilterExpression"] = filter
        if projection:
            out["ProjectionExpression"] = projection
        return out

    def _conditioned(self, request: dict[str, Any], condition: str | None, values: dict[str, Any] | None,
                     names: dict[str, str] | None) -> dict[str, Any]:
        if condition:
            request["ConditionExpression"] = condition
        request.update(self._expression(values or {}, names, None, None))
        return request

    def _encoded(self, request: dict[str, Any]) -> dict[str, Any]:
        if "ExpressionAttributeValues" in request:
            values = request["ExpressionAttributeValues"]
            request["ExpressionAttributeValues"] = {k: self.value(v) for k, v in values.items()}
        return request
