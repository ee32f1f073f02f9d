"""What DynamoDB requests cost: capacity units by AWS's published rounding rules, from the requests and answers
themselves, and the on-demand price of those units.

moto reports no capacity for transactions and its other figures are not AWS's, so the benchmark (bench-api
--dynamodb) counts here, from what its moto server saw: item sizes as DynamoDB measures them (attribute names
plus values), writes in 1 KB units, reads in 4 KB units (half for eventually consistent reads), every item of a
transaction twice. An update or delete is charged at the item's size after the run (a read of it then), which
is at least its size at the time for items that only grow (a challenge gains its rounds): an upper bound.

Prices: on-demand, us-east-1, at the time of writing (AWS's DynamoDB pricing page, after the November 2024
cut): $0.625 per million write request units, $0.125 per million read request units.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

WRITE_PRICE_PER_MILLION = 0.625
READ_PRICE_PER_MILLION = 0.125
INDEX_ENTRY_BYTES = 100  # an index entry counted but not returned (Select COUNT): its keys, about this size


def value_size(value: dict[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value in its wire form ({"S": ...}, {"N": ...}, ...)."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = Decimal(v).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: x}) for x in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(x) for k, x in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


@dataclass
class Meter:
    """The DynamoDB requests of a stretch of work: counts per operation, read and write request units. Updates,
    deletes and condition checks wait for their items' sizes (charge() with the sizes read afterwards)."""

    requests: Counter = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    pending: list[tuple[str, dict, int, str]] = field(default_factory=list)  # (table, key, times, op) of writes
    units: Counter = field(default_factory=Counter)  # "<operation> <table>" -> units (read or write) it took

    def add(self, operation: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        self.requests[operation] += 1
        before = self.read_units + self.write_units
        self._add(operation, request, response)
        tables = request.get("TableName") or ",".join(sorted(request.get("RequestItems", {})))
        if tables:  # a transaction's items are counted by their own tables
            self.units[f"{operation} {tables}"] += self.read_units + self.write_units - before

    def _add(self, operation: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        consistent = bool(request.get("ConsistentRead"))
        if operation == "GetItem":
            self.read_units += read_units(item_size(response.get("Item", {})), consistent)
        elif operation == "BatchGetItem":
            for table, asked in request["RequestItems"].items():
                found = response.get("Responses", {}).get(table, [])
                sizes = [item_size(i) for i in found] + [0] * (len(asked["Keys"]) - len(found))
                self.read_units += sum(read_units(s, bool(asked.get("ConsistentRead"))) for s in sizes)
        elif operation in ("Query", "Scan"):
            returned = response.get("Items", [])
            size = sum(item_size(i) for i in returned)
            scanned = response.get("ScannedCount", len(returned))
            if returned and scanned > len(returned):  # a filter dropped some after they were read
                size = size * scanned // len(returned)
            elif not returned:
                size = scanned * INDEX_ENTRY_BYTES
            self.read_units += read_units(size, consistent and "IndexName" not in request)
        elif operation == "PutItem":
            self.write_units += write_units(item_size(request["Item"]))
        elif operation in ("UpdateItem", "DeleteItem"):
            self.pending.append((request["TableName"], request["Key"], 1, operation))
        elif operation == "TransactWriteItems":
            for entry in request["TransactItems"]:
                (kind, op), = entry.items()
                if kind == "Put":
                    units = 2 * write_units(item_size(op["Item"]))
                    self.write_units += units
                    self.units[f"{operation} {op['TableName']}"] += units
                else:
                    self.pending.append((op["TableName"], op["Key"], 2, f"{operation} {op['TableName']}"))

    def charge(self, sizes: dict[tuple[str, str], int]) -> None:
        """Charge the pending writes at their items' sizes ({(table, key as sorted JSON): size}; 0 when gone)."""
        for table, key, times, what in self.pending:
            units = times * write_units(sizes.get((table, key_id(key)), 0))
            self.write_units += units
            self.units[what if " " in what else f"{what} {table}"] += units
        self.pending.clear()

    def cost(self, per: float = 1.0) -> float:
        """Dollars for this work, divided by `per` (cycles)."""
        return (self.read_units * READ_PRICE_PER_MILLION + self.write_units * WRITE_PRICE_PER_MILLION) / 1e6 / per


def key_id(key: dict[str, Any]) -> str:
    import json

    return json.dumps(key, sort_keys=True)
