"""Makes moto's served DynamoDB cheap per call, so the stack's hot path is not limited by the emulator's CPU.

Why: measured with py-spy on the served process (``bench/bench_dynamodb.py``, 300 users + 3,000 idempotency items),
stock moto 5.2.5 spends per call: conditional PutItem 6.3 ms of CPU, conditional UpdateItem 14.5 ms, BatchGetItem
of 50 keys 54 ms, BatchWriteItem of 25 8.7 ms, a one-partition Query 125 ms, a GSI Query (two pages) 250 ms.
The worker's per-job mix (one PutItem, one UpdateItem, a tenth of a BatchGetItem and of two BatchWriteItems)
is ~28 ms of moto CPU, i.e. at most ~35 jobs/s from a whole core. Where it goes:

1. Response serialization (80 % of a BatchGetItem): moto 5.2 serializes every result through its generic,
   botocore-shape-driven ``ResponseSerializer``, which looks every attribute of every item up through a chain of
   alias pickers. DynamoDB results are already plain JSON-shaped dicts (``DynamoResult`` runs ``dynamo_to_dict``),
   so for the data-plane operations the body is simply ``orjson.dumps`` of the result (bytes, i.e. B/BS values,
   base64-encoded as the serializer does). Errors and control-plane results still go through moto's serializer.
2. Query (98 % of it): ``Table.query`` starts from ``all_items()``, which SORTS THE WHOLE TABLE (DynamoType
   comparisons) on every call, then filters by partition. Here a table Query reads its partition straight from
   ``table.items[hash_key]`` (moto still sorts those by range key), and a GSI Query scans the items unsorted,
   pre-filtered by the index's hash key (moto still re-checks and sorts the matches by the index's key order, so
   ordering, ``Limit`` and ``ExclusiveStartKey`` behave as before). Scan keeps moto's sorted path.
3. UpdateItem / PutItem do the same work twice (the handler and the backend each parse the update expression and
   the condition, and each deep-copy the existing item). Update expressions are parsed once per distinct string
   and cached (the handler only reads the tree and the backend's ``Validator`` copies it before rewriting); the
   backend's second deep copy of the item, kept only for DynamoDB Streams, is skipped when the table has no
   stream. The validator's ten tree walks (each visit rebuilt a dict and ran ABC ``isinstance`` checks) look
   their processor up once per node class; the three walks that check only the expression's structure (action
   counts, overlapping paths, key attributes) are skipped once that structure, with the same placeholder names
   and table keys, has passed them; the validator's ``deepcopy`` of the tree is a field-by-field copy.
4. A ConditionExpression is parsed by the handler (to check placeholders) and again by the backend with the
   same names and values: the second parse reuses the first (per thread, keyed by expression, names, values).
5. Per request, moto's Flask route costs ~2 ms of CPU around an action whose own work is ~0.1 ms for a GetItem:
   :func:`wrap_app` serves the data-plane targets straight through ``DynamoHandler.call_action`` (moto's own
   action code, validation and error bodies), with ``inspect.getmembers`` of the handler class cached and request
   ids from a counter instead of 52 ``random.choice`` calls.
6. werkzeug's development server costs ~0.8 ms per request around the app: :class:`LeanWSGIServer` (threaded,
   HTTP/1.1 keep-alive, Content-Length or chunked bodies, ``Expect: 100-continue``) writes each response in one
   ``sendall``.

After (same bench, same machine; CPU per call of the served process): PutItem 1.1 ms, UpdateItem 4.1 ms (creating
the item; ~2.5 ms updating one), BatchGetItem(50) 4.5 ms, BatchWriteItem(25) 4.5 ms, one-partition Query 1.4 ms,
GSI Query (two pages, 4,500 items) 13 ms. The GSI Query still scans every item of the table (linear in table
size); an index per GSI would need hooks on every in-place item update and on transaction rollback.

Semantics kept, tested over HTTP with and without this module in tests/stack_e2e/test_dynamodb_semantics.py
(conditional writes, ALL_OLD on failure, update expressions, batches, Query on the table and GSIs with filters and
pagination, transactions, TTL, Scan, binary values, errors; and the lean server's HTTP framing).
``install()`` patches classes in this process and ``wrap_app`` / ``LeanWSGIServer`` serve them;
``stack.launcher.moto_service`` applies all three before serving DynamoDB (``--no-dynamodb-speedup`` or
``SWSIM_DYNAMODB_SPEEDUP=0`` serves stock moto with werkzeug, for comparison).
"""
from __future__ import annotations

import base64
import copy
import email.utils
import functools
import io
import itertools
import math
import os
import socket
import socketserver
import sys
import threading
import traceback
import urllib.parse
from typing import Any, Callable, Iterable

import orjson
from moto import settings as moto_settings
from moto.core import responses as moto_core_responses
from moto.core.responses import ActionResult
from moto.dynamodb import models as ddb_models
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb import responses as ddb_responses
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.ast_nodes import Node as _AST_NODE  # type: ignore[attr-defined]
from moto.dynamodb.parsing import validators as ddb_validators
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.validators import (ActionCountValidator, OverlappingPathsValidator,
                                              UpdateExpressionValidator, UpdateHashRangeKeyValidator, Validator)
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.iam.models import mark_account_as_visited
from moto.utilities.utils import get_partition

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
# Operations whose successful result is a plain JSON-shaped dict of AttributeValues, counts and keys.
FAST_SERIALIZED_ACTIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems",
})
UPDATE_AST_CACHE_SIZE = 512
_installed = False
_query_scope = threading.local()


# ---- 1. response serialization ------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    """What moto's serializer does with the non-JSON values a DynamoDB result holds: blobs are base64."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _serialized(self: DynamoHandler, action_result: ActionResult) -> tuple[int, dict[str, str], str]:
    result = action_result.result
    if (type(action_result) in (ActionResult, DynamoResult) and isinstance(result, dict)
            and self._get_action() in FAST_SERIALIZED_ACTIONS):
        headers = {"Content-Type": JSON_CONTENT_TYPE}
        headers.update(self.response_headers)
        return 200, headers, orjson.dumps(result, default=_json_default).decode()
    return _stock_serialized(self, action_result)


# ---- 2. Query without sorting the whole table ---------------------------------------------------------------
def _query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    """Tell ``all_items`` (called by moto's query) which items this query can possibly return."""
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    _query_scope.current = (self, hash_key, index_name, kwargs.get("hash_key_conditions") or [])
    try:
        return _stock_query(self, hash_key, *args, **kwargs)
    finally:
        _query_scope.current = None


def _all_items(self: Table) -> list[Item]:
    scope = getattr(_query_scope, "current", None)
    if scope is None or scope[0] is not self:
        return _stock_all_items(self)  # Scan and everything else: moto's sorted list
    _query_scope.current = None  # once per query
    _, hash_key, index_name, hash_conditions = scope
    if index_name is None:
        if hash_key is None:
            return _stock_all_items(self)
        partition = self.items.get(hash_key)  # .get: never create an empty partition in the defaultdict
        if partition is None:
            return []
        return list(partition.values()) if self.range_key_attr else [partition]
    return _gsi_candidates(self, hash_conditions)


def _gsi_candidates(self: Table, hash_conditions: list[tuple[str, DynamoType]]) -> list[Item]:
    """Items whose index hash key can match, unsorted (moto re-checks every condition and sorts the matches).

    Only string/binary hash keys are pre-filtered by raw value (their equality is exact); numbers (``"1"`` equals
    ``"1.0"``) are left to moto's own comparison."""
    exact = [(name, value.type, value.value) for name, value in hash_conditions if value.type in ("S", "B")]
    items: list[Item] = []
    for partition in self.items.values():
        for item in (partition.values() if self.range_key_attr else (partition,)):
            attrs = item.attrs
            for name, kind, raw in exact:
                found = attrs.get(name)
                if found is None or found.type != kind or found.value != raw:
                    break
            else:
                items.append(item)
    return items


# ---- 3. UpdateItem: parse once, copy once -------------------------------------------------------------------
@functools.lru_cache(maxsize=UPDATE_AST_CACHE_SIZE)
def _parsed_update_expression(expression: str) -> Any:
    return _stock_update_make(expression)


class _HandlerUpdateParser:
    """Both the handler (placeholders used) and the backend get the cached tree itself: the handler only reads
    it, and the backend's ``Validator`` deep-copies it before rewriting (``node_to_validate``)."""

    @staticmethod
    def make(expression: str) -> Any:
        return _parsed_update_expression(expression)


def _processor_cache(self: DepthFirstTraverser) -> dict[type, Any]:
    """This processor's node class -> method table (filled lazily), next to its processing map built once."""
    cache = self.__dict__.get("_sw_by_type")
    if cache is None:
        cache = self.__dict__["_sw_by_type"] = {}
        self.__dict__["_sw_map"] = self._processing_map()
    return cache


def _processor_for(self: DepthFirstTraverser, node_type: type) -> Any:
    """The processor's method for nodes of ``node_type`` (first match in its map's order, as moto's ``process``),
    or None. moto rebuilds the (static) map and runs ABC ``isinstance`` checks for every node it visits; here the
    answer is cached per processor instance and node class (the AST classes register no virtual subclasses, so
    ``isinstance`` is an MRO test)."""
    cache = _processor_cache(self)
    if node_type not in cache:
        mro = node_type.__mro__
        cache[node_type] = next((fn for cls, fn in self.__dict__["_sw_map"].items() if cls in mro), None)
    return cache[node_type]


_NOT_A_NODE = object()


def _traverse(self: DepthFirstTraverser, root: Any) -> Any:
    """moto's depth-first traversal (children first, then the node; a processed node replaces itself in its
    parent) as one closure per walk: the per-class lookup table and the (usually no-op) ``pre_processing_of_child``
    hook are resolved once per walk instead of once per node. moto calls only ``traverse``, so this replaces
    ``traverse_node_recursively`` as well."""
    lookup = _processor_cache(self)  # node classes only: anything else is answered by the MRO test below
    pre = None if type(self).pre_processing_of_child is _BASE_PRE_PROCESSING else self.pre_processing_of_child

    def visit(node: Any, child_id: int) -> Any:
        node_type = type(node)
        processor = lookup.get(node_type, _NOT_A_NODE)
        if processor is _NOT_A_NODE:
            if _AST_NODE not in node_type.__mro__:
                return node
            processor = _processor_for(self, node_type)
        parent_node = node.parent
        children = node.children
        if children is not None:
            for i, child_node in enumerate(children):
                if pre is not None:
                    pre(node, i)
                visit(child_node, i)
        if processor is not None:
            node = processor(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    return visit(root, -1)


STRUCTURE_PROCESSORS = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
STRUCTURES_KEPT = 1024
_valid_structures: dict[tuple[Any, ...], None] = {}
_ATOMS = (str, int, float, bool, type(None))


def _validator_init(self: UpdateExpressionValidator, expression: Any, *args: Any, **kwargs: Any) -> None:
    self._sw_key = _structure_key_of(expression, args, kwargs)
    _stock_validator_init(self, expression, *args, **kwargs)


def _structure_key_of(expression: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """What the structure-only checks depend on: the (cached, never rewritten) expression tree, the placeholder
    names and the table's key attributes. The tree is in the key by identity, which also keeps it alive."""
    names = kwargs.get("expression_attribute_names", args[0] if args else None)
    table = kwargs.get("table", args[3] if len(args) > 3 else None)
    return (id(expression), expression), repr(names), tuple(getattr(table, "table_key_attrs", ()) or ())


def _update_processors(self: UpdateExpressionValidator) -> list[DepthFirstTraverser]:
    """moto's processors, minus the three that only check the expression's structure (action counts,
    overlapping paths, key attributes updated) once that structure has passed them: they read no values and no
    item, and each of them walks the whole tree once per node it visits."""
    processors = _stock_update_processors(self)
    if getattr(self, "_sw_key", None) in _valid_structures:
        processors = [p for p in processors if not isinstance(p, STRUCTURE_PROCESSORS)]
    return processors


def _validate(self: Validator) -> Any:
    result = _stock_validate(self)
    key = getattr(self, "_sw_key", None)
    if key is not None and key not in _valid_structures:
        if len(_valid_structures) >= STRUCTURES_KEPT:
            _valid_structures.clear()
        _valid_structures[key] = None
    return result


def _copy_tree(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``deepcopy`` for an update expression's AST (the validator copies it before rewriting): nodes, lists,
    dicts and atoms copied field by field, parent links kept pointing into the copy. Anything else is handed to
    ``copy.deepcopy``. About 5x cheaper than the generic ``__reduce_ex__`` path for these trees."""
    if memo is None:
        memo = {}
    if isinstance(value, _ATOMS):
        return value
    found = memo.get(id(value))
    if found is not None:
        return found
    if isinstance(value, _AST_NODE):
        clone = object.__new__(type(value))
        memo[id(value)] = clone
        clone.__dict__.update({k: _copy_tree(v, memo) for k, v in value.__dict__.items()})
        return clone
    if type(value) is list:
        clone_list: list[Any] = []
        memo[id(value)] = clone_list
        clone_list.extend(_copy_tree(v, memo) for v in value)
        return clone_list
    if type(value) is dict:
        clone_dict: dict[Any, Any] = {}
        memo[id(value)] = clone_dict
        clone_dict.update({k: _copy_tree(v, memo) for k, v in value.items()})
        return clone_dict
    return copy.deepcopy(value, memo)


# ---- 4. a condition is parsed once per request, not twice -----------------------------------------------------
_recent_conditions = threading.local()
RECENT_CONDITIONS_KEPT = 4


def _parse_condition(self: ConditionExpressionParser) -> Any:
    """The handler parses a request's ConditionExpression to validate the placeholders, then the backend parses
    the same expression with the same names and values to evaluate it: the second parse reuses the first.
    Keyed by the expression and the names' and values' contents, per thread, last few only."""
    if not self.condition_expression:
        return _stock_parse_condition(self)
    key = (self.condition_expression, repr(self.expression_attribute_names),
           repr(self.expression_attribute_values))
    recent: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] | None = getattr(
        _recent_conditions, "parsed", None)
    if recent is None:
        recent = _recent_conditions.parsed = {}
    hit = recent.get(key)
    if hit is None:
        op = _stock_parse_condition(self)
        hit = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
        if len(recent) >= RECENT_CONDITIONS_KEPT:
            recent.pop(next(iter(recent)))
        recent[key] = hit
        return op
    op, names_found, values_found = hit
    self.expr_attr_names_found.extend(names_found)
    self.expr_attr_values_found.extend(values_found)
    return op


class _NoCopy:
    """``copy`` for the backend's update_item: its deep copy of the old item only feeds DynamoDB Streams."""

    def __init__(self) -> None:
        self.streams = threading.local()

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if getattr(self.streams, "off", False):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


_backend_copy = _NoCopy()


def _update_item(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
    table = self.get_table(table_name)
    _backend_copy.streams.off = table.stream_shard is None
    try:
        return _stock_update_item(self, table_name, *args, **kwargs)
    finally:
        _backend_copy.streams.off = False


# ---- 7. item size checked once per item, not once per attribute ------------------------------------------------
ITEM_SIZE_LIMIT = 405000   # moto's: "between 409 and 410KB" measured upstream, 400 KB documented


def _entry_size(name: Any, value: Any) -> int:
    """What moto's ``LimitedSizeDict.__setitem__`` counts for one attribute: the name's and the value's size."""
    return ((name.size() if type(name) is DynamoType else bytesize(str(name)))
            + (value.size() if type(value) is DynamoType else bytesize(str(value))))


def _fill_checked(target: LimitedSizeDict, entries: dict[str, Any]) -> None:
    """Insert every attribute after one size check of the whole item.

    moto's ``LimitedSizeDict.__setitem__`` re-sizes every attribute already present (recursing into maps and
    lists) before adding one, so building an item of n attributes costs O(n^2) size walks: ~25 % of the served
    process's CPU at the stack's hot path (job items have ~20 attributes, and every Item is built on each
    Put/TransactWrite/BatchWrite and deep-copied on each Update and transaction). The sizes only add up, so
    "the running total exceeded the limit at some attribute" is exactly "the whole item exceeds it": same
    ``ItemSizeTooLarge``, same items accepted. Single-attribute sets (update expressions) keep moto's check."""
    if sum(_entry_size(name, value) for name, value in entries.items()) > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    dict.update(target, entries)   # dict's own update: no per-key __setitem__


def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    _fill_checked(self.attrs, {name: DynamoType(value) for name, value in attrs.items()})


def _limited_deepcopy(self: LimitedSizeDict, memo: dict[int, Any]) -> LimitedSizeDict:
    """``copy.deepcopy`` of an item's attributes (stock: rebuilt key by key through ``__setitem__``)."""
    copied = LimitedSizeDict()
    memo[id(self)] = copied
    _fill_checked(copied, {copy.deepcopy(name, memo): copy.deepcopy(value, memo) for name, value in self.items()})
    return copied


# ---- 5. the data-plane requests skip Flask and moto's generic request set-up -----------------------------------
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TARGET_PREFIX = "DynamoDB_20120810."
# Served by the direct path; everything else (control plane, /moto-api, /_health) goes to moto's Flask app.
DIRECT_ACTIONS = frozenset(FAST_SERIALIZED_ACTIONS)
FAST_PATH_HEADER = "x-swsim-fast-path"  # marks responses served by the direct path (tests check which path ran)
STATUS_TEXT = {200: "200 OK", 400: "400 Bad Request", 500: "500 Internal Server Error"}


def wrap_app(stock_app: WsgiApp) -> WsgiApp:
    """A WSGI app serving DynamoDB's data-plane calls straight through ``DynamoHandler.call_action``.

    Per request, moto's Flask route spends ~2 ms of CPU before and after the action (a GetItem's own work is
    ~0.1 ms): Flask request context, werkzeug form parsing, the botocore-model request parser, URL rebuilding,
    ``inspect.getmembers`` of the handler class, a 52-character random request id drawn char by char. Here the
    JSON body is decoded with orjson (DynamoDB's JSON protocol carries AttributeValues as they are; requests with
    binary ``B``/``BS`` values, which moto's parser base64-decodes, take the stock path), the handler gets the
    attributes moto's ``setup_class`` would set, and moto's own ``call_action`` runs the action (validation,
    exceptions and error bodies are moto's). Anything unusual (not a POST to ``/``, another target, gzip, a query
    string, IAM authorization enabled) is passed to ``stock_app`` untouched."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        if (action not in DIRECT_ACTIONS or environ.get("REQUEST_METHOD") != "POST"
                or environ.get("PATH_INFO", "/") not in ("/", "") or environ.get("QUERY_STRING")
                or environ.get("HTTP_CONTENT_ENCODING") or not _auth_disabled()):
            return stock_app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        params = _decoded(raw)
        if params is None:
            environ["wsgi.input"] = io.BytesIO(raw)  # already read: hand moto the same bytes
            return stock_app(environ, start_response)
        status, headers, body = _call_action(target, params, raw, environ)
        payload = body.encode() if isinstance(body, str) else bytes(body)
        headers.pop("status", None)
        headers["Content-Length"] = str(len(payload))
        headers[FAST_PATH_HEADER] = "1"
        start_response(STATUS_TEXT.get(int(status), f"{int(status)} Status"), list(headers.items()))
        return [payload]

    return app


def _auth_disabled() -> bool:
    """moto authorizes nothing unless INITIAL_NO_AUTH_ACTION_COUNT is set (then the stock path checks)."""
    return math.isinf(float(moto_settings.INITIAL_NO_AUTH_ACTION_COUNT))


def _decoded(raw: bytes) -> dict[str, Any] | None:
    if b'"B"' in raw or b'"BS"' in raw:
        return None
    try:
        params = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return None
    return params if isinstance(params, dict) else None


def _call_action(target: str, params: dict[str, Any], raw: bytes,
                 environ: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    handler = DynamoHandler()
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    headers = {"X-Amz-Target": target, "Content-Type": environ.get("CONTENT_TYPE", ""),
               "Authorization": authorization, "User-Agent": environ.get("HTTP_USER_AGENT", "")}
    account_id = environ.get("HTTP_X_MOTO_ACCOUNT_ID")  # a WSGI request header, not a process variable
    if account_id is not None:
        headers["x-moto-account-id"] = account_id
    handler.headers = headers
    handler.querystring = {}
    handler.data = handler.querystring
    handler.uri_match = {}
    handler.params = params
    handler.body = params
    handler.raw_body = raw
    handler.method = "POST"
    handler.uri = handler.path = handler.raw_path = "/"
    handler.is_werkzeug_request = True
    handler.response_headers = {"server": "amazon.com"}
    handler.region = _region(handler, authorization, headers["User-Agent"])
    handler.partition = get_partition(handler.region)
    handler.access_key = handler.get_access_key()
    handler.current_account = handler.get_current_account()
    mark_account_as_visited(account_id=handler.current_account, access_key=handler.access_key,
                            service="dynamodb", region=handler.region)
    return handler.call_action()


def _region(handler: DynamoHandler, authorization: str, user_agent: str) -> str:
    """moto's get_region_from_url for a request to 127.0.0.1: the user agent's region, else the credential's."""
    match = handler.region_from_useragent_regex.search(user_agent)
    if match:
        return match.group(1)
    if "AWS4" in authorization:
        return authorization.split(",")[0].split("/")[2]
    return handler.default_region


@functools.lru_cache(maxsize=64)
def _method_names(clazz: type) -> list[str]:
    """moto calls ``inspect.getmembers`` on the handler class for every request; the class does not change."""
    return _stock_method_names(clazz)


_REQUEST_ID_PREFIX = base64.b32encode(os.urandom(20)).decode()[:32]
_request_numbers = itertools.count(1)


def _request_id(headerdict: dict[str, Any] | None = None) -> str:
    """Same shape as moto's (52 upper-case letters and digits), unique per process, without 52 calls to
    ``random.choice``: a random per-process prefix and a counter."""
    request_id = f"{_REQUEST_ID_PREFIX}{next(_request_numbers):020d}"
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = request_id
    return request_id


_stock_serialized = DynamoHandler.serialized
_stock_query = Table.query
_stock_all_items = Table.all_items
_stock_update_make = UpdateExpressionParser.make
_stock_update_item = DynamoDBBackend.update_item
_stock_parse_condition = ConditionExpressionParser.parse
_BASE_PRE_PROCESSING = DepthFirstTraverser.pre_processing_of_child
_stock_validator_init = Validator.__init__
_stock_update_processors = UpdateExpressionValidator.get_ast_processors
_stock_validate = Validator.validate
_stock_method_names = moto_core_responses.method_names_from_class


def install_response_patches() -> None:
    """The service-independent part of 5 (moto's shared ``BaseResponse``): ``inspect.getmembers`` of the handler
    class cached, request ids from a counter. stack.sqs_speedup applies it to the SQS process too."""
    moto_core_responses.method_names_from_class = _method_names  # type: ignore[assignment]
    moto_core_responses.gen_amzn_requestid_long = _request_id  # type: ignore[assignment]


def install() -> None:
    """Patch moto's DynamoDB in this process (idempotent). Safe before or after tables exist."""
    global _installed
    if _installed:
        return
    DynamoHandler.serialized = _serialized  # type: ignore[method-assign]
    Table.query = _query  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign]
    ddb_responses.UpdateExpressionParser = _HandlerUpdateParser  # type: ignore[misc]
    ddb_models.UpdateExpressionParser = _HandlerUpdateParser  # type: ignore[misc]
    DepthFirstTraverser.traverse = _traverse  # type: ignore[method-assign]
    ConditionExpressionParser.parse = _parse_condition  # type: ignore[method-assign]
    Validator.__init__ = _validator_init  # type: ignore[method-assign]
    Validator.validate = _validate  # type: ignore[method-assign]
    UpdateExpressionValidator.get_ast_processors = _update_processors  # type: ignore[method-assign]
    ddb_validators.deepcopy = _copy_tree  # type: ignore[attr-defined]
    install_response_patches()
    ddb_models.copy = _backend_copy  # type: ignore[assignment]
    DynamoDBBackend.update_item = _update_item  # type: ignore[method-assign]
    Item.__init__ = _item_init  # type: ignore[method-assign]
    LimitedSizeDict.__deepcopy__ = _limited_deepcopy  # type: ignore[attr-defined]
    _installed = True


# ---- 6. a lean HTTP/1.1 server -------------------------------------------------------------------------------
class LeanWSGIServer(socketserver.ThreadingTCPServer):
    """A threaded HTTP/1.1 keep-alive server for one WSGI app, in place of werkzeug's development server.

    Why: werkzeug's server spends ~0.8 ms of CPU per request around the app (``http.client`` header parsing
    through the email package, environ building with URL re-quoting, access-log formatting, a ``Date`` header
    formatted per response, headers and body written in separate syscalls). Here a request head is split by hand,
    the body is read by Content-Length (or de-chunked; ``Expect: 100-continue`` answered), and the whole response
    goes out in one ``sendall``. One thread per connection, as werkzeug's threaded mode (boto3 and the chaos proxy
    keep connections alive)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: WsgiApp) -> None:
        self.app = app
        super().__init__((host, port), _LeanHandler)

    @property
    def server_port(self) -> int:
        return int(self.server_address[1])


class _LeanHandler(socketserver.StreamRequestHandler):
    rbufsize = 64 * 1024
    server: LeanWSGIServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        try:
            while self._one_request():
                pass
        except (ConnectionError, TimeoutError, ValueError):
            return

    def _one_request(self) -> bool:
        line = self.rfile.readline(MAX_LINE)
        while line in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
            line = self.rfile.readline(MAX_LINE)
        if not line:
            return False
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3:
            self._send_simple(400, b"malformed request line")
            return False
        method, target, version = parts
        headers = self._read_headers()
        if headers is None:
            self._send_simple(431, b"request head too large")
            return False
        connection = headers.get("connection", "").lower()
        keep_alive = connection == "keep-alive" if version == "HTTP/1.0" else connection != "close"
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        else:
            length = int(headers.get("content-length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            if len(body) < length:
                return False
        status, response_headers, chunks = self._run_app(method, target, version, headers, body)
        self._send(method, status, response_headers, chunks, keep_alive)
        return keep_alive

    def _read_headers(self) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self.rfile.readline(MAX_LINE)
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return None

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline(MAX_LINE).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(MAX_LINE)

    def _environ(self, method: str, target: str, version: str, headers: dict[str, str],
                 body: bytes) -> dict[str, Any]:
        path, _, query = target.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": urllib.parse.unquote(path, "latin-1"),
            "QUERY_STRING": query, "REQUEST_URI": target, "RAW_URI": target, "SERVER_PROTOCOL": version,
            "SERVER_NAME": str(host), "SERVER_PORT": str(port), "SERVER_SOFTWARE": "swsim-lean",
            "REMOTE_ADDR": self.client_address[0], "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_TYPE": headers.get("content-type", ""), "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers.items():
            if name not in ("content-type", "content-length", "transfer-encoding"):
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        return environ

    def _run_app(self, method: str, target: str, version: str, headers: dict[str, str],
                 body: bytes) -> tuple[str, list[tuple[str, str]], list[bytes]]:
        started: list[Any] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, response_headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        try:
            result = self.server.app(self._environ(method, target, version, headers, body), start_response)
            try:
                chunks.extend(bytes(chunk) for chunk in result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:  # noqa: BLE001  a bug in the app must not kill the connection's thread silently
            traceback.print_exc()
            return "500 Internal Server Error", [("Content-Type", "text/plain")], [b"internal server error"]
        if not started:
            return "500 Internal Server Error", [("Content-Type", "text/plain")], [b"no response started"]
        return started[0], started[1], chunks

    def _send(self, method: str, status: str, headers: list[tuple[str, str]], chunks: list[bytes],
              keep_alive: bool) -> None:
        body = b"" if method == "HEAD" else b"".join(chunks)
        names = {name.lower() for name, _ in headers}
        head = [f"HTTP/1.1 {status}"]
        head += [f"{name}: {value}" for name, value in headers if name.lower() not in ("connection", "date")]
        if "content-length" not in names:
            head.append(f"Content-Length: {len(b''.join(chunks))}")
        head.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        head.append("Connection: keep-alive" if keep_alive else "Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _send_simple(self, code: int, message: bytes) -> None:
        self._send("GET", f"{code} Error", [("Content-Type", "text/plain")], [message], False)


MAX_LINE = 65536
MAX_HEADERS = 200
