"""Splits one model house into a broker part and a worker part.

The worker house holds the models that run (every model but the mixes),
unchanged, and one admin key: the brokers'. The broker house keeps the
instances, tasks and mixes and turns every other model into a remote model
(backend = "kserve") served by the workers, with the same est, limits and
tensors; it sends one question per call (the worker batches) and keeps
enough calls in flight to fill the worker's batches. `tbms house check`
accepts both; scripts/fleet serves them on loopback and deploy/k8s ships the
demo's split (tests/deploy checks the two agree).

    python3 deploy/fleet/house_split.py house/demo --out DIR \\
        --endpoints 127.0.0.1:9001,127.0.0.1:9002
    python3 deploy/fleet/house_split.py house/demo --out deploy/k8s/base/house \\
        --endpoints tbms-worker:8001 --pods-per-endpoint 8 --local keysearch
"""

import argparse
import os
import shutil
import sys
import tomllib

# What a broker's remote model keeps of a worker's model.toml: what the
# broker plans with. The rest (backend, replicas, batching, versions, weights,
# device, the backend's own tables) is the worker's business.
BROKER_KEYS = ("est", "lag_target_ms", "labels", "limits", "inputs", "outputs")
DEFAULT_MAX_BATCH = 8  # docs/house.md, [batching] max_batch_size
MAX_IN_FLIGHT = 256  # docs/house.md, [remote] in_flight
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


def replicas_of(model):
    """`replicas`, or the sum of its [[instance_group]] counts."""
    groups = model.get("instance_group")
    if groups:
        return sum(int(g.get("count", 1)) for g in groups)
    return int(model.get("replicas", 1))


def remote_model(model, name, endpoints, protocol, secret_env, pods):
    doc = {key: model[key] for key in BROKER_KEYS if key in model}
    doc["backend"] = "kserve"
    # A TBMS worker takes one question per infer and batches on its side, so
    # the broker sends each try alone and keeps enough calls in flight to fill
    # the worker's batches: replicas x max batch per worker, times the pods an
    # endpoint stands for (a headless Service name stands for all of them).
    worker_batch = int(model.get("batching", {}).get("max_batch_size", DEFAULT_MAX_BATCH))
    doc["batching"] = {"max_batch_size": 1}
    doc["remote"] = {
        "protocol": protocol,
        "endpoints": list(endpoints),
        "model": name,
        "in_flight": min(MAX_IN_FLIGHT, replicas_of(model) * worker_batch * pods),
        "access_id": BROKER_KEY_ID,
        "secret_env": secret_env,
    }
    # Plain keys before tables: backend first, as people write it.
    return {"backend": doc.pop("backend"), **doc}


HEADER = "# Made by deploy/fleet/house_split.py from %s: edit the source house and split again.\n"


def split(house, out, endpoints, protocol="grpc", secret_env="TBMS_BROKER_KEY", local=(), pods=1):
    """Writes out/broker and out/worker; returns their paths. The models named in
    `local` stay in the broker: a cheap last resort there answers even when
    no worker can. `pods`: how many workers each endpoint stands for."""
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
                   HEADER % source + toml_text(remote_model(model, name, endpoints, protocol, secret_env, pods)))
    # The workers run the models on the devices; a broker needs them only
    # for a local model placed on one.
    devices = os.path.join(house, "devices.toml")
    if os.path.isfile(devices):
        shutil.copy(devices, os.path.join(worker, "devices.toml"))
        if any("instance_group" in read_toml(os.path.join(broker, n, "model.toml")) for n in local):
            shutil.copy(devices, os.path.join(broker, "devices.toml"))
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
    parser.add_argument("--pods-per-endpoint", type=int, default=1,
                        help="how many workers one endpoint stands for (a headless Service: the most pods it will have); "
                             "sizes in_flight (default 1)")
    parser.add_argument("--secret-env", default="TBMS_BROKER_KEY",
                        help="the environment variable holding the brokers' key on both sides")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.house) or not model_folders(args.house):
        parser.error("%s is not a model house (no NAME/model.toml in it)" % args.house)
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    if not endpoints:
        parser.error("--endpoints names no endpoint")
    if not 1 <= args.pods_per_endpoint <= MAX_IN_FLIGHT:
        parser.error("--pods-per-endpoint must be 1 to %d" % MAX_IN_FLIGHT)
    local = [m.strip() for m in args.local.split(",") if m.strip()]
    try:
        broker, worker = split(args.house, args.out, endpoints, args.protocol, args.secret_env, local,
                               args.pods_per_endpoint)
    except ValueError as e:
        parser.error(str(e))
    print("house_split: broker house %s, worker house %s" % (broker, worker))
    return 0


if __name__ == "__main__":
    sys.exit(main())
