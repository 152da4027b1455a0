#!/usr/bin/env bash
# Regenerates github-sim/openapi/schemas.json from GitHub's official REST description (npm package
# @octokit/openapi): the response schemas, per status, of the operations listed in
# github-sim/openapi/operations.txt, plus the transitive closure of the components they reference,
# converted from OpenAPI 3.0 to JSON Schema (`nullable: true` becomes a `"null"` type). The output is
# committed, so tests and CI need no network.
#
# usage: scripts/openapi-schemas.sh [VERSION] [DESCRIPTION]
#   VERSION      of @octokit/openapi (default 23.0.2)
#   DESCRIPTION  file under package/generated/ without .json (default api.github.com; e.g. ghes-3.19)
# The output is github-sim/openapi/schemas.json for api.github.com, else schemas.DESCRIPTION.json.
# For api.github.com it also writes github-sim/openapi/webhooks.json: the payload schemas of the events in
# github-sim/openapi/webhooks.txt (and the components they reference) and their documented headers, from
# @octokit/openapi-webhooks (WEBHOOKS_VERSION, default 12.1.0), already JSON Schema (OpenAPI 3.1).
set -euo pipefail

version="${1:-23.0.2}"
description="${2:-api.github.com}"
root="$(cd "$(dirname "$0")/.." && pwd)"
operations="$root/github-sim/openapi/operations.txt"
if [[ "$description" == "api.github.com" ]]; then
  out="$root/github-sim/openapi/schemas.json"
else
  out="$root/github-sim/openapi/schemas.$description.json"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@octokit/openapi@$version" >/dev/null)
tar -xzf "$work"/octokit-openapi-*.tgz -C "$work" "package/generated/$description.json"

python3 - "$work/package/generated/$description.json" "$operations" "$out" "$version" "$description" <<'PY'
import json
import sys

spec_path, operations_path, out_path, version, description = sys.argv[1:]
with open(spec_path) as f:
    spec = json.load(f)

# Keywords that only document; dropping them keeps the committed file small.
DOC_ONLY = {"description", "example", "examples", "title", "readOnly", "writeOnly", "deprecated",
            "default", "externalDocs", "discriminator", "xml"}


def convert(node):
    """OpenAPI 3.0 schema -> JSON Schema 2020-12 (nullable -> "null" type), documentation dropped."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in DOC_ONLY or key.startswith("x-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: convert(schema) for name, schema in value.items()}
        else:
            out[key] = convert(value)
    if node.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = types + ["null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = out["enum"] + [None]
        else:
            # nullable on a composition (allOf/oneOf/anyOf/$ref): null, or what it composes.
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def response_schema(response):
    """The application/json schema of a response (components/responses refs resolved), or None."""
    ref = response.get("$ref")
    if ref:
        response = spec["components"]["responses"][ref.rsplit("/", 1)[1]]
    content = response.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    return None if media is None else media.get("schema")


operations = {}
with open(operations_path) as f:
    for line in f:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        method, path = line.split(" ", 1)
        try:
            operation = spec["paths"][path][method.lower()]
        except KeyError:
            sys.exit(f"{description}: no operation {method} {path}")
        statuses = {}
        for status, response in operation["responses"].items():
            schema = response_schema(response)
            statuses[status] = None if schema is None else convert(schema)
        operations[f"{method} {path}"] = statuses

# Every error status is answered with GitHub's generic error bodies; keep them even where an operation
# does not list the status.
needed = {"basic-error", "validation-error"}
refs(operations, needed)
components = {}
pending = sorted(needed)
while pending:
    name = pending.pop()
    if name in components:
        continue
    components[name] = convert(spec["components"]["schemas"][name])
    more = set()
    refs(components[name], more)
    pending.extend(sorted(more - components.keys()))

document = {
    "source": f"@octokit/openapi@{version} generated/{description}.json (converted to JSON Schema 2020-12)",
    "operations": operations,
    "components": {"schemas": dict(sorted(components.items()))},
}
with open(out_path, "w") as f:
    json.dump(document, f, indent=1, sort_keys=False)
    f.write("\n")
print(f"{out_path}: {len(operations)} operations, {len(components)} component schemas")
PY

if [[ "$description" != "api.github.com" ]]; then
  exit 0
fi
webhooks_version="${WEBHOOKS_VERSION:-12.1.0}"
(cd "$work" && npm pack --silent "@octokit/openapi-webhooks@$webhooks_version" >/dev/null)
tar -xzf "$work"/octokit-openapi-webhooks-*.tgz -C "$work" package/generated/api.github.com.json
python3 - "$work/package/generated/api.github.com.json" "$root/github-sim/openapi/webhooks.txt" \
  "$root/github-sim/openapi/webhooks.json" "$webhooks_version" <<'PY'
import json
import sys

spec_path, events_path, out_path, version = sys.argv[1:]
with open(spec_path) as f:
    spec = json.load(f)
DOC_ONLY = {"description", "example", "examples", "title", "readOnly", "writeOnly", "deprecated",
            "default", "externalDocs", "discriminator", "xml"}


def strip(node):
    if isinstance(node, list):
        return [strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in DOC_ONLY or key.startswith("x-"):
            continue
        out[key] = {n: strip(s) for n, s in value.items()} if key == "properties" else strip(value)
    return out


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


with open(events_path) as f:
    wanted = [line.strip() for line in f if line.strip() and not line.startswith("#")]
headers = {}
for hook in spec["webhooks"].values():
    post = hook["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    if schema in wanted:
        headers[schema] = sorted(p["name"].lower() for p in post.get("parameters", [])
                                 if p.get("in") == "header" and p.get("required"))
missing = [w for w in wanted if w not in headers]
if missing:
    sys.exit(f"no webhook with payload schema {missing}")
components = {}
pending = list(wanted)
while pending:
    name = pending.pop()
    if name in components:
        continue
    components[name] = strip(spec["components"]["schemas"][name])
    more = set()
    refs(components[name], more)
    pending.extend(sorted(more - components.keys()))
document = {
    "source": f"@octokit/openapi-webhooks@{version} generated/api.github.com.json",
    "headers": headers,
    "components": {"schemas": dict(sorted(components.items()))},
}
with open(out_path, "w") as f:
    json.dump(document, f, indent=1)
    f.write("\n")
print(f"{out_path}: {len(wanted)} payloads, {len(components)} component schemas")
PY
