"""Splits one model house into a broker part and a worker part.

The worker house holds the models that run (every model but the mixes),
unchanged, and one admin key: the brokers'. The broker house keeps the
instances, tasks and mixes and turns every other model into a remote model
(backend = "kserve") served by the workers, with the same est, batching,
limits and tensors. `tbms house check` accepts both; scripts/fleet serves
them on loopback and deploy/k8s ships the demo's split (tests/deploy checks
the two agree).

    python3 deploy/fleet/house_split.py house/demo --out DIR \\
        --endpoints 127.0.0.1:9001,127.0.0.1:9002
"""

import argparse
import os
import shutil
import sys
import tomllib

# What a broker's remote model keeps of a worker's model.toml: what the
# broker plans with. The rest (backend, replicas, versions, weights, device,
# the backend's own tables) is the worker's business.
BROKER_KEYS = ("est", "lag_target_ms", "labels", "batching", "limits", "inputs", "outputs")
MIX_BACKEND = "mix"  # brokered where it is: its members are the broker's models
BROKER_KEY_ID = "broker"


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join("%s = %s" % (k, toml_value(v)) for k, v in value.items()) + " }"
    raise TypeError("no TOML for %r" % (value,))


def toml_text(doc, prefix=""):
    """TOML for a parsed document: plain keys first, then tables and arrays of tables."""
    lines, tables = [], []
    for key, value in doc.items():
        if isinstance(value, dict):
            tables.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value, True))
        else:
            lines.append("%s = %s" % (key, toml_value(value)))
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value, is_array in tables:
        name = prefix + key
        for item in (value if is_array else [value]):
            text += "\n[%s%s%s]\n" % ("[" if is_array else "", name, "]" if is_array else "")
            text += toml_text(item, name + ".")
    return text


def read_toml(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


def write_file(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def model_folders(house):
    return sorted(name for name in os.listdir(house) if os.path.isfile(os.path.join(house, name, "model.toml")))


def remote_model(model, name, endpoints, protocol, secret_env):
    doc = {key: model[key] for key in BROKER_KEYS if key in model}
    doc["backend"] = "kserve"
    doc["remote"] = {
        "protocol": protocol,
        "endpoints": list(endpoints),
        "model": name,
        "in_flight": int(model.get("replicas", 1)),  # the worker runs this many batches at once
        "access_id": BROKER_KEY_ID,
        "secret_env": secret_env,
    }
    # Plain keys before tables: backend first, as people write it.
    return {"backend": doc.pop("backend"), **doc}


HEADER = "# Made by deploy/fleet/house_split.py from %s: edit the source house and split again.\n"


def split(house, out, endpoints, protocol="grpc", secret_env="TBMS_BROKER_KEY", local=()):
    """Writes out/broker and out/worker; returns their paths. The models named in
    `local` stay in the broker: a cheap last resort there answers even when
    no worker can."""
    unknown = set(local) - set(model_folders(house))
    if unknown:
        raise ValueError("--local names no model of %s: %s" % (house, ", ".join(sorted(unknown))))
    broker, worker = os.path.join(out, "broker"), os.path.join(out, "worker")
    for part in (broker, worker):
        shutil.rmtree(part, ignore_errors=True)
        os.makedirs(part)
    source = os.path.basename(os.path.normpath(house))
    for name in model_folders(house):
        folder = os.path.join(house, name)
        model = read_toml(os.path.join(folder, "model.toml"))
        if model.get("backend") == MIX_BACKEND or name in local:
            shutil.copytree(folder, os.path.join(broker, name))
            continue
        shutil.copytree(folder, os.path.join(worker, name))
        write_file(os.path.join(broker, name, "model.toml"),
                   HEADER % source + toml_text(remote_model(model, name, endpoints, protocol, secret_env)))
    instances = os.path.join(house, "instances.toml")
    if os.path.isfile(instances):
        shutil.copy(instances, os.path.join(broker, "instances.toml"))
    write_file(os.path.join(worker, "instances.toml"), HEADER % source +
               "# The brokers call with this key; an admin key may infer on every model.\n"
               "[admin]\nkeys = [{ id = %s, secret_env = %s }]\n" % (toml_value(BROKER_KEY_ID), toml_value(secret_env)))
    return broker, worker


def set_endpoints(broker, endpoints):
    """Points every remote model of a broker house at `endpoints` (a poll-mode broker reloads)."""
    for name in model_folders(broker):
        path = os.path.join(broker, name, "model.toml")
        model = read_toml(path)
        if model.get("backend") != "kserve":
            continue
        model["remote"]["endpoints"] = list(endpoints)
        with open(path) as f:
            header = f.readline()
        write_file(path + ".new", header + toml_text(model))
        os.replace(path + ".new", path)  # atomic: the poller never reads half a file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("house", help="the model house to split")
    parser.add_argument("--out", required=True, help="writes OUT/broker and OUT/worker (replacing them)")
    parser.add_argument("--endpoints", required=True,
                        help="the workers, comma-separated HOST:PORT (a DNS name: a Kubernetes headless Service)")
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc",
                        help="how brokers call workers (default grpc)")
    parser.add_argument("--local", default="",
                        help="models that stay in the broker, comma-separated (e.g. a cheap last resort)")
    parser.add_argument("--secret-env", default="TBMS_BROKER_KEY",
                        help="the environment variable holding the brokers' key on both sides")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.house) or not model_folders(args.house):
        parser.error("%s is not a model house (no NAME/model.toml in it)" % args.house)
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    if not endpoints:
        parser.error("--endpoints names no endpoint")
    local = [m.strip() for m in args.local.split(",") if m.strip()]
    try:
        broker, worker = split(args.house, args.out, endpoints, args.protocol, args.secret_env, local)
    except ValueError as e:
        parser.error(str(e))
    print("house_split: broker house %s, worker house %s" % (broker, worker))
    return 0


if __name__ == "__main__":
    sys.exit(main())
