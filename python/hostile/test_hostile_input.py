"""Hostile input against a real ``aios up`` (issue 15): every answer is below 500, the server stays up, answers
``/healthz`` within 2 s after each batch and its RSS stays within a bound.

The cases (about 5,000 requests, 40-60 s on 2 cores; derandomized: the same on every run):

* mutated specs: the repository's own example documents (components, clusters, nodes, blocks, vDAGs, inference
  and management requests), with values replaced, retyped, deleted, inserted, duplicated, made huge or made
  invalid UTF-8, sent as JSON, as YAML and without a content type, to ``/api/addComponent``, ``/api/createCluster``,
  ``/api/addNode``, ``/api/createBlock``, ``/api/createvDAG``, ``/v1/infer``, ``/v1/chat/completions`` and
  ``/api/executeMgmtCommand``;
* huge numbers (2^63, -2^64, 18446744073709551616, 1e400, a 100,000-digit integer, ...) at every field of every
  example document;
* deep nesting (JSON and YAML, depth 100 to 10,000; at the top and inside a spec);
* YAML alias bombs (chained ``&a [x, x, ...]`` anchors, under and over the alias cap, merge keys, and aliases the
  cap's counter misses), whole bodies and inside a spec;
* invalid UTF-8 (overlong forms, surrogates, truncated sequences, stray continuation bytes, random bytes) in
  values, keys and at the top, and random binary bodies;
* duplicate keys at every level; a body over the size limit.

Run: ``.venv/bin/pytest -q python/hostile`` (``AIOS_BIN`` names another binary; ``AIOS_HOSTILE_SCALE=0.2`` runs a
fifth of the generated cases; ``AIOS_HOSTILE_KEEP=1`` keeps the data directories and server logs).
"""

from __future__ import annotations

import base64
import copy
import io
import itertools
import json
import os
import tarfile
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import REPO, Answer, Platform, PlatformDown, check_answer, describe_body

SCALE = float(os.environ.get("AIOS_HOSTILE_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


def fuzz_settings(n: int) -> settings:
    # Derandomized and without shrinking: a failing case is reported as found (shrinking would need a fresh
    # server per try after a crash), and CI sees the same cases every run.
    return settings(max_examples=examples(n), deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                    print_blob=False)


# ------------------------------------------------------------------------------------------------ encoding
class Raw:
    """Bytes put into the body verbatim (a number literal Python cannot write, invalid UTF-8, ...)."""

    def __init__(self, data: Union[bytes, str]) -> None:
        self.data = data.encode() if isinstance(data, str) else data

    def __repr__(self) -> str:
        return f"Raw({self.data[:60]!r}{'...' if len(self.data) > 60 else ''})"


class Pairs:
    """A JSON object written with its keys in order, repeats allowed."""

    def __init__(self, items: List[Tuple[Any, Any]]) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"Pairs({self.items!r})"


def encode(value: Any) -> bytes:
    out: List[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode_key(key: Any, out: List[bytes]) -> None:
    if isinstance(key, Raw):
        out.append(key.data)
    else:
        out.append(json.dumps(str(key), ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _encode(value: Any, out: List[bytes]) -> None:
    if isinstance(value, Raw):
        out.append(value.data)
    elif value is None:
        out.append(b"null")
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif isinstance(value, int):
        out.append(str(value).encode())
    elif isinstance(value, float):
        out.append(repr(value).encode() if value == value and value not in (float("inf"), float("-inf")) else b"1e400")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    elif isinstance(value, (dict, Pairs)):
        items = value.items if isinstance(value, Pairs) else list(value.items())
        out.append(b"{")
        for i, (k, v) in enumerate(items):
            if i:
                out.append(b",")
            _encode_key(k, out)
            out.append(b":")
            _encode(v, out)
        out.append(b"}")
    elif isinstance(value, (list, tuple)):
        out.append(b"[")
        for i, v in enumerate(value):
            if i:
                out.append(b",")
            _encode(v, out)
        out.append(b"]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__}")


# ------------------------------------------------------------------------------------------- the documents
def _load(relative: str) -> Dict[str, Any]:
    return json.loads((REPO / relative).read_text())  # type: ignore[no-any-return]


def _values(document: Dict[str, Any]) -> Dict[str, Any]:
    return document["body"]["spec"]["values"]  # type: ignore[no-any-return]


#: The component every generated block names: an OCI image only, so with ``AIOS_OCI_ENGINE=none`` none of its
#: instances ever starts anything on the host.
TARGET_COMPONENT = _load("examples/mistral7b/component.json")
_values(TARGET_COMPONENT)["componentId"] = {"name": "hostile-target", "version": "0.1.0", "releaseTag": "stable"}
TARGET_URI = "model.hostile-target:0.1.0-stable"
MISSING_BLOCK = "hostile-no-such-block"
#: A block of the target component that exists throughout (its instances cannot start): what the vDAGs' nodes
#: and the management commands name, so they get past "no such block" to the rest of their validation.
STANDING_BLOCK = "hostile-standing"
STANDING_BLOCK_SPEC: Dict[str, Any] = {
    "header": {"templateUri": "Parser/V1", "parameters": {}},
    "body": {"spec": {"values": {"blockId": STANDING_BLOCK, "blockComponentURI": TARGET_URI, "minInstances": 1,
                                 "maxInstances": 2, "parameters": {"temperature": 0.7}}}},
}


def _component_bases() -> List[Dict[str, Any]]:
    docs = []
    for i, relative in enumerate(["examples/python-wordcount/component-oci.json", "examples/mistral7b/component.json",
                                  "examples/swift-echo/component.json", "examples/llm-split/component.json"]):
        doc = _load(relative)
        values = _values(doc)
        values["componentId"]["name"] = f"hostile-fuzz-{i}"  # never the target: no block ever runs these
        if "runtime" in values:  # a process runtime: point it at nothing, whatever else the mutation keeps
            values["runtime"] = {"type": "process", "command": ["/nonexistent/aios-hostile-instance"], "cwd": "/"}
        docs.append(doc)
    return docs


def _block_bases() -> List[Dict[str, Any]]:
    docs = []
    for relative in ["examples/python-wordcount/block.json", "examples/mistral7b/block.json"]:
        doc = _load(relative)
        values = _values(doc)
        values["blockComponentURI"] = TARGET_URI
        values["parameters"] = {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 16}
        values.pop("initContainer", None)
        docs.append(doc)
    return docs


def _vdag_bases() -> List[Dict[str, Any]]:
    """The example vDAGs, their nodes pointed at the standing block (by id, and by component in a filter)."""
    docs = [_load("examples/vdag-text/vdag.json"), _load("examples/llm-split/vdag.json")]
    for i, doc in enumerate(docs):
        values = _values(doc)
        values["vdagName"] = f"hostile-vdag-{i}"
        for node in values["nodes"]:
            spec = node["spec"]["values"]
            if "manualBlockId" in spec:
                spec["manualBlockId"] = STANDING_BLOCK
            rule = spec.get("assignmentPolicyRule", {}).get("parameters", {}).get("filter")
            if isinstance(rule, dict) and rule.get("variable") == "block.componentURI":
                rule["value"] = TARGET_URI
    return docs


INFER_BASE: Dict[str, Any] = {
    "block_id": MISSING_BLOCK, "session_id": "hostile-session", "seq_no": 1, "data": {"text": "hello"},
    "files": [{"metadata": "{\"file_name\": \"a.txt\"}", "file_data": "aGVsbG8="}], "output_ptr": "", "timeout_ms": 1000,
}
CHAT_BASE: Dict[str, Any] = {
    "model": MISSING_BLOCK, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    "stream": False, "max_tokens": 16, "temperature": 0.5, "top_p": 0.9, "seed": 7, "session_id": "hostile-session",
}
MGMT_BASES: List[Dict[str, Any]] = [
    {"blockId": STANDING_BLOCK, "service": "executor", "mgmtCommand": "scale", "mgmtData": {"instances": 2}},
    {"blockId": STANDING_BLOCK, "service": "executor", "mgmtCommand": "status"},
    {"blockId": STANDING_BLOCK, "service": "instances", "mgmtCommand": "set_parameters",
     "mgmtData": {"temperature": 0.5, "top_p": 0.9, "max_new_tokens": 8}},
    {"blockId": MISSING_BLOCK, "service": "instances", "mgmtCommand": "stats", "mgmtData": {},
     "instanceId": f"{MISSING_BLOCK}-0"},
    {"header": {"templateUri": "Parser/V1", "parameters": {}},
     "body": {"spec": {"values": {"blockId": STANDING_BLOCK, "mgmtCommand": "stats", "mgmtData": {}}}}},
]


@dataclass
class Route:
    name: str
    path: str
    bases: List[Dict[str, Any]]
    #: the field each generated document gets a fresh value of (so creations get past "already exists")
    fresh: Optional[Callable[[Dict[str, Any], int], None]] = None
    content_types: Sequence[Optional[str]] = ("application/json", "application/json", "application/yaml", None)


def _fresh_component(doc: Dict[str, Any], n: int) -> None:
    _values(doc)["componentId"]["name"] = f"hostile-fuzz-{n}"


def _fresh_block(doc: Dict[str, Any], n: int) -> None:
    _values(doc)["blockId"] = f"hostile-block-{n}"


def _fresh_vdag(doc: Dict[str, Any], n: int) -> None:
    _values(doc)["vdagName"] = f"hostile-vdag-{n}"


def _policy_base() -> Dict[str, Any]:
    """A valid policy registration: AIOS's fields and a small archive holding ``code/function.py``."""
    source = (b"class AIOSv1PolicyRule:\n    def __init__(self, rule_id, settings, parameters):\n        pass\n"
              b"    def eval(self, parameters, input_data, context):\n        return {'instance_id': input_data['instances'][0]}\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("code/function.py")
        info.size = len(source)
        archive.addfile(info, io.BytesIO(source))
    return {"name": "policy.loadBalancer.hostile", "version": "1", "release_tag": "fuzz", "type": "loadBalancer",
            "policy_parameters": {"header": "x-user"}, "policy_settings": {"session_cache_size": 10},
            "description": "first ready instance", "tags": "fuzz", "code": {"archive": base64.b64encode(buffer.getvalue()).decode()}}


def _fresh_policy(doc: Dict[str, Any], n: int) -> None:
    values = doc["body"]["spec"]["values"] if "body" in doc else doc
    values["name"] = f"policy.loadBalancer.hostile-{n}"


_CLUSTER = _load("examples/clusters/dma-bangalore.json")
_values(_CLUSTER)["id"] = "hostile-cluster"
_NODE = _load("examples/clusters/add_node.json")
_values(_NODE)["clusterId"] = "hostile-cluster"

ROUTES: Dict[str, Route] = {r.name: r for r in [
    Route("addComponent", "/api/addComponent", _component_bases(), _fresh_component),
    # Clusters and nodes keep their ids: the setup created them, so a valid document is validated in full and
    # then answered 409, and the platform does not pile up clusters that every placement would then look at.
    Route("createCluster", "/api/createCluster", [_CLUSTER]),
    Route("addNode", "/api/addNode", [_NODE]),
    Route("createBlock", "/api/createBlock", _block_bases(), _fresh_block),
    Route("createvDAG", "/api/createvDAG", _vdag_bases(), _fresh_vdag),
    Route("infer", "/v1/infer", [INFER_BASE],
          content_types=("application/json", "application/json", None, "text/plain",
                         "multipart/form-data; boundary=hostile")),
    Route("chat", "/v1/chat/completions", [CHAT_BASE], content_types=("application/json", None)),
    Route("executeMgmtCommand", "/api/executeMgmtCommand", MGMT_BASES),
    Route("policies", "/api/policies", [_policy_base()], _fresh_policy),
]}


# ------------------------------------------------------------------------------------------ posting a case
#: What a route creates, and how it is removed: route name -> (removal path, the id's key in reply and request).
REMOVAL: Dict[str, Tuple[str, str]] = {
    "createBlock": ("/api/removeBlock", "blockId"),
    "createvDAG": ("/api/removevDAG", "vdagURI"),
}

#: Serial numbers for the ids of generated documents, so creations get past "already exists".
SERIAL = itertools.count(1)


@dataclass
class Poster:
    platform: Platform

    def send(self, route: Route, body: bytes, content_type: Optional[str]) -> Answer:
        """POST ``body``; fails the test on a 5xx or a server that died or stalled. Blocks and vDAGs it created
        are removed again, so the platform's state stays small (their removal must not answer 5xx either)."""
        try:
            answer = self.platform.post(route.path, body, content_type)
        except PlatformDown as e:
            raise PlatformDown(f"{e}; the request: content type {content_type}, body {describe_body(body)}") from None
        check_answer(self.platform, route.path, body, answer, content_type)
        if 200 <= answer.status < 300 and route.name in REMOVAL:
            self._remove(answer, *REMOVAL[route.name])
        return answer

    def _remove(self, answer: Answer, path: str, key: str) -> None:
        try:
            reply = json.loads(answer.body)
            created = reply.get("result", reply).get(key)
        except (ValueError, AttributeError):
            created = None
        if not isinstance(created, str) or created == STANDING_BLOCK:
            return
        removal = json.dumps({key: created}).encode()
        check_answer(self.platform, path, removal, self.platform.post(path, removal))

    def fresh(self, route: Route, base: Dict[str, Any]) -> Dict[str, Any]:
        doc = copy.deepcopy(base)
        if route.fresh is not None:
            route.fresh(doc, next(SERIAL))
        return doc


@pytest.fixture
def poster(platform: Platform) -> Poster:
    return Poster(platform)


_TARGET_GENERATION: Dict[int, bool] = {}


def _ensure_target(platform: Platform) -> None:
    """The target component and the standing block, once per server (again after a restart)."""
    if _TARGET_GENERATION.get(platform.generation):
        return
    for path, document in (("/api/addComponent", TARGET_COMPONENT), ("/api/createBlock", STANDING_BLOCK_SPEC),
                           ("/api/createCluster", _CLUSTER), ("/api/addNode", _NODE)):
        answer = platform.post_json(path, document)
        assert answer.status in (200, 409), f"POST {path} (the suite's setup): {answer.status} {answer.text()}"
    _TARGET_GENERATION[platform.generation] = True


@pytest.fixture(autouse=True)
def _target_after_restart(platform: Platform) -> None:
    _ensure_target(platform)


# ----------------------------------------------------------------------------------------------- mutations
HUGE_NUMBERS: List[str] = [
    "9223372036854775807",  # Int.max: must still be handled (a range error is a 4xx)
    "9223372036854775808",  # 2^63
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",  # 2^64
    "-18446744073709551616",
    "1e400",
    "-1e400",
    "1e-400",
    "1.7976931348623157e309",
    "9.3e18",
    "1e300",
    "123456789012345678901234567890123456789",
    "-0",
    "1" + "0" * 100_000,  # a 100,000-digit integer
]

BAD_UTF8: List[bytes] = [
    b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",  # invalid bytes, overlong forms
    b"\xed\xa0\x80", b"\xed\xbf\xbf\xed\xa0\x80",  # UTF-16 surrogates
    b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",  # beyond U+10FFFF, 5-byte form
    b"\xe2\x82", b"\xc3", b"\x80", b"\xbf\xbf",  # truncated, stray continuation bytes
    b"\x00", b"\xef\xbb\xbf",  # NUL, a BOM
]

FIELD_NAMES: List[str] = sorted({
    "blockId", "blockComponentURI", "minInstances", "maxInstances", "blockInitData", "initSettings", "parameters",
    "policies", "componentId", "runtime", "command", "containerRegistryInfo", "componentInputProtocol", "id",
    "nodes", "nodeData", "gpus", "count", "memory", "vcpus", "clusterId", "vdagName", "graph", "controller",
    "block_id", "model", "seq_no", "timeout_ms", "session_id", "data", "files", "file_data", "metadata",
    "mgmtCommand", "mgmtData", "instances", "service", "instanceId", "timeout", "resources", "top_k", "stream",
    "messages", "max_tokens", "header", "head", "body", "spec", "values", "<<", "", "__proto__", "$ref",
})

STRINGS: List[str] = [
    "", " ", "\u0000", "\ud800", "é\u202e", "../../../../etc/passwd", "/etc/shadow", "${HOME}", "*a", "&a", "---",
    "%s%n", "-1", "1e400", "NaN", "Infinity", "true", "null", "{}", "[]", "local", TARGET_URI, MISSING_BLOCK,
    "tool.x:1.0.0-stable", "a" * 5000, "😀" * 200,
]


# Strategies are built once: building them inside each draw costs more than the request does.
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16), st.sampled_from(STRINGS), st.sampled_from(HUGE_NUMBERS[:-1]).map(Raw),
)
KEYS: st.SearchStrategy[str] = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8))
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=10,
)
INDEX = st.integers(min_value=0, max_value=1 << 20)
COUNT = st.integers(min_value=1, max_value=3)


def pick(draw: st.DrawFn, items: Sequence[Any]) -> Any:
    """One of ``items`` (a fixed strategy: no new strategy per draw)."""
    return items[draw(INDEX) % len(items)]


Path_ = Tuple[Union[str, int], ...]


def paths(value: Any, prefix: Path_ = ()) -> List[Path_]:
    """Every path into ``value``, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found.extend(paths(v, prefix + (k,)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(paths(v, prefix + (i,)))
    return found


def leaf_paths(value: Any) -> List[Path_]:
    return [p for p in paths(value) if not isinstance(get(value, p), (dict, list))]


def get(value: Any, path: Path_) -> Any:
    for part in path:
        value = value[part]
    return value


def put(doc: Any, path: Path_, new: Any) -> Any:
    """``doc`` with the value at ``path`` replaced (in place below the root); returns the new root."""
    if not path:
        return new
    parent = get(doc, path[:-1])
    parent[path[-1]] = new
    return doc


def retyped(value: Any, how: int) -> Any:
    options: List[Any] = [
        encode(value).decode("utf-8", "replace") if not isinstance(value, str) else value.encode("utf-8", "surrogatepass").hex(),
        [value], {"value": value}, None, not bool(value), -1, 0, 2**31, 0.5, "",
        (len(value) if isinstance(value, (str, list, dict)) else "x"),
    ]
    return options[how % len(options)]


MUTATIONS = ("replace", "retype", "delete", "insert", "huge", "badutf8", "duplicate", "unwrap")


@st.composite
def mutated(draw: st.DrawFn, route: Route, kinds: Sequence[str] = MUTATIONS) -> Tuple[bytes, Optional[str], List[str]]:
    """A base document of ``route`` with 1-3 mutations; returns the body, its content type and what was done."""
    doc: Any = copy.deepcopy(pick(draw, route.bases))
    if route.fresh is not None:
        route.fresh(doc, next(SERIAL))
    done: List[str] = []
    for _ in range(draw(COUNT)):
        kind = pick(draw, kinds)
        all_paths = paths(doc)
        path = pick(draw, all_paths)
        if kind == "replace":
            doc = put(doc, path, draw(JSON_VALUES))
        elif kind == "retype":
            doc = put(doc, path, retyped(get(doc, path), draw(INDEX)))
        elif kind == "delete" and path:
            del get(doc, path[:-1])[path[-1]]
        elif kind == "insert":
            objects = [p for p in all_paths if isinstance(get(doc, p), dict)]
            if objects:
                path = pick(draw, objects)
                get(doc, path)[draw(KEYS)] = draw(JSON_VALUES)
        elif kind == "huge":
            doc = put(doc, path, Raw(pick(draw, HUGE_NUMBERS)))
        elif kind == "badutf8":
            doc = put(doc, path, Raw(b'"ok' + pick(draw, BAD_UTF8) + b'"'))
        elif kind == "duplicate":
            objects = [p for p in all_paths if isinstance(get(doc, p), dict) and get(doc, p)]
            if objects:
                path = pick(draw, objects)
                obj = get(doc, path)
                key = pick(draw, sorted(obj))
                items = list(obj.items())
                items.insert(draw(INDEX) % (len(items) + 1), (key, draw(JSON_VALUES)))
                doc = put(doc, path, Pairs(items))
                done.append(f"duplicate {'/'.join(map(str, path + (key,)))}")
                break  # a Pairs object cannot be walked by later mutations
        elif kind == "unwrap" and isinstance(doc, dict) and isinstance(doc.get("body"), dict):
            spec = doc["body"].get("spec")
            if isinstance(spec, dict) and "values" in spec:
                doc = spec["values"]
        done.append(f"{kind} {'/'.join(map(str, path))}")
    return encode(doc), pick(draw, route.content_types), done


# ----------------------------------------------------------------------------------------------- the tests
def _fuzz(route_name: str, n: int, kinds: Sequence[str] = MUTATIONS) -> Callable[[Poster], None]:
    route = ROUTES[route_name]

    @fuzz_settings(n)
    @given(case=mutated(route, kinds))
    def run(poster: Poster, case: Tuple[bytes, Optional[str], List[str]]) -> None:
        body, content_type, _ = case
        poster.send(route, body, content_type)

    return run  # type: ignore[no-any-return]


MUTATED_EXAMPLES = {
    "addComponent": 250, "createCluster": 150, "addNode": 100, "createBlock": 250, "createvDAG": 200,
    "infer": 200, "chat": 100, "executeMgmtCommand": 200, "policies": 150,
}


@pytest.mark.parametrize("route_name", list(MUTATED_EXAMPLES))
def test_mutated_specs(platform: Platform, poster: Poster, route_name: str) -> None:
    _fuzz(route_name, MUTATED_EXAMPLES[route_name])(poster)
    platform.end_batch(f"mutated {route_name} specs")


@pytest.mark.parametrize("route_name", list(ROUTES))
def test_huge_numbers_at_every_field(platform: Platform, poster: Poster, route_name: str) -> None:
    """Every huge number literal in place of each numeric value of each example document and as a new field;
    one of them (in turn) in place of each other value."""
    route = ROUTES[route_name]
    turn = 0
    for base in route.bases:
        for path in leaf_paths(base) + [("hostile_extra",)]:
            value = get(base, path) if path != ("hostile_extra",) else 0
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            literals = HUGE_NUMBERS if numeric else [HUGE_NUMBERS[turn % len(HUGE_NUMBERS)]]
            turn += 1
            for literal in literals:
                doc = poster.fresh(route, base)
                if path == ("hostile_extra",):
                    (_values(doc) if "body" in doc else doc)["hostile_extra"] = Raw(literal)
                else:
                    doc = put(doc, path, Raw(literal))
                try:
                    poster.send(route, encode(doc), "application/json")
                except AssertionError as e:  # PlatformDown included: say which field and number did it
                    shown = literal if len(literal) < 40 else f"{literal[:12]}...({len(literal)} digits)"
                    raise type(e)(f"{'/'.join(map(str, path))} = {shown}: {e}") from None
    platform.end_batch(f"huge numbers in {route_name}")


def _deep(shape: str, depth: int) -> bytes:
    if shape == "array":
        return b"[" * depth + b"1" + b"]" * depth
    if shape == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if shape == "mixed":
        return b'[{"a":' * (depth // 2) + b"1" + b"}]" * (depth // 2)
    if shape == "unclosed":
        return b"[" * depth
    raise ValueError(shape)


DEPTHS = [100, 500, 1000, 2000, 5000, 10000]
#: The field of each document that gets the nested value (the first one it has).
NESTABLE = ("blockInitData", "data", "mgmtData", "clusterMetadata", "componentMetadata", "controller", "nodeData",
            "messages")


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shape", ["array", "object", "mixed", "unclosed"])
def test_deep_nesting(platform: Platform, poster: Poster, shape: str, depth: int) -> None:
    """A deeply nested body, alone and as a spec's value, as JSON and as YAML (flow style), on every route."""
    nested = _deep(shape, depth)
    for route in ROUTES.values():
        poster.send(route, nested, "application/json")
        if route.path.startswith("/api/"):
            poster.send(route, nested, "application/yaml")
        base = poster.fresh(route, route.bases[0])
        target = _values(base) if "body" in base else base
        key = next((k for k in NESTABLE if k in target), "hostile_extra")
        target[key] = Raw(nested)
        poster.send(route, encode(base), "application/json")
    platform.end_batch(f"{shape} nesting of depth {depth}")


def test_deep_yaml_block_style(platform: Platform, poster: Poster) -> None:
    """Nesting by indentation (block-style YAML), 1,000 levels: about 500 KB."""
    lines = [" " * i + f"k{i}:" for i in range(1000)]
    body = ("\n".join(lines) + " 1\n").encode()
    for name in ("addComponent", "createBlock", "createCluster", "createvDAG", "executeMgmtCommand"):
        poster.send(ROUTES[name], body, "application/yaml")
        poster.send(ROUTES[name], body, None)
    platform.end_batch("deep block-style YAML")


def _alias_chain(levels: int, width: int, evade: bool = False, indent: str = "") -> List[str]:
    """``l0: &l0 [x, x, ...]`` then ``lN: &lN [*lN-1, *lN-1, ...]``: width^levels leaves from a few hundred bytes.

    ``evade``: each sequence starts with ``q'``, a plain scalar whose apostrophe hides the rest of its line from
    a quote-tracking alias counter."""
    lead = "q', " if evade else ""
    lines = [f"{indent}l0: &l0 [{lead}{', '.join(['x'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"{indent}l{level}: &l{level} [{lead}{', '.join([f'*l{level - 1}'] * width)}]")
    return lines


def alias_bomb(levels: int, width: int, evade: bool = False) -> bytes:
    return ("\n".join(_alias_chain(levels, width, evade)) + "\n").encode()


def alias_bomb_in_block(levels: int, width: int, evade: bool = False) -> bytes:
    """The bomb inside a createBlock spec: the anchors under ``blockInitData``, the last alias in ``parameters``."""
    chain = _alias_chain(levels, width, evade, indent="          ")
    return ("\n".join([
        "header: {templateUri: Parser/V1, parameters: {}}",
        "body:",
        "  spec:",
        "    values:",
        "      blockId: hostile-bomb-block",
        f"      blockComponentURI: {TARGET_URI}",
        "      minInstances: 1",
        "      blockInitData:",
        "        anchors:",
        *chain,
        f"      parameters: {{temperature: 0.5, bomb: *l{levels - 1}}}",
    ]) + "\n").encode()


def merge_key_bomb(levels: int, width: int) -> bytes:
    """Mappings merged into mappings (``<<: [*a, *a]``)."""
    lines = [f"m0: &m0 {{{', '.join(f'k{i}: x' for i in range(width))}}}"]
    for level in range(1, levels):
        lines.append(f"m{level}: &m{level} {{<<: [{', '.join([f'*m{level - 1}'] * 2)}], n{level}: [{', '.join([f'*m{level - 1}'] * (width - 2))}]}}")
    return ("\n".join(lines) + "\n").encode()


ALIAS_BOMBS: Dict[str, bytes] = {
    "4x16 (64 aliases, 65k leaves)": alias_bomb(5, 16),
    "8 levels of 8 (56 aliases)": alias_bomb(8, 8),
    "9 levels of 8 (64 aliases)": alias_bomb(9, 8),
    "33 levels of 2 (64 aliases, 2^33 leaves)": alias_bomb(33, 2),
    "17 levels of 4 (64 aliases)": alias_bomb(17, 4),
    "65 levels of 2 (over the alias cap)": alias_bomb(65, 2),
    "evading the alias counter, 10 levels of 10": alias_bomb(10, 10, evade=True),
    "merge keys, 8 levels": merge_key_bomb(8, 8),
    "in a createBlock spec, 8 levels of 8": alias_bomb_in_block(8, 8),
    "in a createBlock spec, evading the counter": alias_bomb_in_block(10, 10, evade=True),
}


@pytest.mark.parametrize("name", list(ALIAS_BOMBS))
def test_yaml_alias_bomb(platform: Platform, poster: Poster, name: str) -> None:
    body = ALIAS_BOMBS[name]
    for route_name in ("createBlock", "addComponent", "executeMgmtCommand"):
        poster.send(ROUTES[route_name], body, "application/yaml")
    poster.send(ROUTES["createvDAG"], body, None)  # no content type: JSON is tried, then YAML
    platform.end_batch(f"YAML alias bomb {name} ({len(body)} bytes)")


def test_small_yaml_aliases_are_fine(platform: Platform, poster: Poster) -> None:
    """Control: a harmless use of anchors (a few aliases, tiny expansion) is accepted or refused, never a 5xx."""
    body = alias_bomb_in_block(2, 3)
    answer = poster.send(ROUTES["createBlock"], body, "application/yaml")
    assert answer.status < 500
    platform.end_batch("a small YAML with aliases")


BINARY = st.binary(min_size=1, max_size=12)
RANDOM_BODY = st.binary(max_size=2000)
ROUTE_LIST = list(ROUTES.values())


@st.composite
def bad_utf8_bodies(draw: st.DrawFn) -> Tuple[Route, bytes, Optional[str]]:
    route: Route = pick(draw, ROUTE_LIST)
    bad = pick(draw, BAD_UTF8) if draw(st.booleans()) else draw(BINARY)
    where = pick(draw, ["value", "key", "prefix", "suffix", "bare"])
    doc = copy.deepcopy(pick(draw, route.bases))
    if where == "value":
        path = pick(draw, leaf_paths(doc))
        body = encode(put(doc, path, Raw(b'"v' + bad.replace(b'"', b"") + b'"')))
    elif where == "key":
        objects = [p for p in paths(doc) if isinstance(get(doc, p), dict)]
        obj = get(doc, pick(draw, objects))
        obj[Raw(b'"k' + bad.replace(b'"', b"") + b'"')] = 1
        body = encode(doc)
    elif where == "prefix":
        body = bad + encode(doc)
    elif where == "suffix":
        body = encode(doc) + bad
    else:
        body = draw(RANDOM_BODY)
    return route, body, pick(draw, ["application/json", "application/yaml", None])


def test_invalid_utf8(platform: Platform, poster: Poster) -> None:
    @fuzz_settings(250)
    @given(case=bad_utf8_bodies())
    def run(case: Tuple[Route, bytes, Optional[str]]) -> None:
        route, body, content_type = case
        poster.send(route, body, content_type)

    run()
    platform.end_batch("invalid UTF-8")


def test_duplicate_keys(platform: Platform, poster: Poster) -> None:
    """Every object of every example document, one key repeated (first or last, same or other value)."""
    for route in ROUTES.values():
        for base in route.bases:
            for path in [p for p in paths(base) if isinstance(get(base, p), dict) and get(base, p)]:
                for first in (True, False):
                    doc = poster.fresh(route, base)
                    obj = get(doc, path)
                    key = sorted(obj)[0]
                    items = list(obj.items())
                    repeat = (key, "hostile-duplicate" if first else copy.deepcopy(obj[key]))
                    items = [repeat] + items if first else items + [repeat]
                    poster.send(route, encode(put(doc, path, Pairs(items))), "application/json")
    platform.end_batch("duplicate keys")


def test_body_over_the_limit(platform: Platform, poster: Poster) -> None:
    """9 MiB: over the 8 MiB limit; a 413 (or another 4xx), not a 500."""
    filler = Raw(b'"' + b"a" * (9 * 1024 * 1024) + b'"')
    for name in ("createBlock", "infer"):
        route = ROUTES[name]
        doc = poster.fresh(route, route.bases[0])
        (doc if name == "infer" else _values(doc))["hostile_extra"] = filler
        poster.send(route, encode(doc), "application/json")
    platform.end_batch("bodies over the limit")


def test_platform_still_serves(platform: Platform, poster: Poster) -> None:
    """Last: the server that took all of the above still does its job (reads answer, a valid block is accepted)."""
    for path in ("/api/components", "/api/clusters", "/api/blocks", "/api/vdags", "/healthz"):
        answer = platform.request("GET", path)
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.text()}"
    block = poster.fresh(ROUTES["createBlock"], ROUTES["createBlock"].bases[0])
    answer = poster.send(ROUTES["createBlock"], encode(block), "application/json")
    assert answer.status < 500
    platform.end_batch("the final checks")

