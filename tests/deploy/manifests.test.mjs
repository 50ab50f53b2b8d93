// Offline checks of deploy/k8s: every overlay renders with `kubectl kustomize`,
// every object validates against the Kubernetes API schema (kubernetes-models,
// plus the prometheus-operator and Istio CRDs) with unknown fields refused,
// and the objects agree with each other and with TBMS: selectors select,
// ports exist, the houses are the split of house/demo and pass `tbms house
// check`, the flags are `tbms serve`'s, the drain fits the grace period, the
// recording rules parse (promtool) and feed the autoscaler.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { schemaModule, unknownFields } from "./strict.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const tbms = process.env.TBMS_BIN || path.join(root, "build/tbms");
const SKIP = 77; // ctest's SKIP_RETURN_CODE for this test

function kustomizeVersion() {
  const r = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
  const m = r.status === 0 && /Kustomize Version: v(\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}
if (kustomizeVersion() < 5) {
  console.log("SKIP: deploy/k8s needs kubectl with kustomize v5 or later (kubectl 1.27+) to render; none found");
  process.exit(SKIP);
}

// A copy of deploy/k8s with fresh keys, so the test writes nothing into the tree.
const work = fs.mkdtempSync(path.join(os.tmpdir(), "tbms-k8s-"));
fs.cpSync(path.join(root, "deploy/k8s"), path.join(work, "k8s"), { recursive: true });
fs.rmSync(path.join(work, "k8s/base/keys.env"), { force: true });
execFileSync(path.join(work, "k8s/make-keys"), { stdio: "ignore" });
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));

const overlays = fs.readdirSync(path.join(root, "deploy/k8s/overlays")).sort();
const rendered = Object.fromEntries(overlays.map((o) => {
  const text = execFileSync("kubectl", ["kustomize", path.join(work, "k8s/overlays", o)], { encoding: "utf8" });
  return [o, parseAllDocuments(text).map((d) => d.toJS())];
}));

const find = (objects, kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const findPrefix = (objects, kind, prefix) => objects.find((o) => o.kind === kind && o.metadata.name.startsWith(prefix + "-"));
const deployments = (objects) => objects.filter((o) => o.kind === "Deployment");
const matches = (selector, labels) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const selected = (objects, selector) => deployments(objects).filter((d) => matches(selector, d.spec.template.metadata.labels));
const flag = (args, name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

test("kubectl kustomize renders every overlay", () => {
  assert.deepEqual(overlays, ["mesh", "small"]);
  for (const o of overlays) assert.ok(rendered[o].length > 10, `${o} rendered ${rendered[o].length} objects`);
});

test("every object validates against the Kubernetes API schema, unknown fields refused", async () => {
  for (const [overlay, objects] of Object.entries(rendered)) {
    for (const o of objects) {
      const where = `${overlay}: ${o.kind}/${o.metadata?.name}`;
      const module = await import(schemaModule(o.apiVersion)).catch(() => null);
      assert.ok(module?.[o.kind], `${where}: no schema for ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => new module[o.kind](apiForm(o)).validate(), where);
      assert.deepEqual(unknownFields(o), [], `${where}: fields the API does not know`);
    }
  }
});

test("the strict check refuses misspelt fields, in the core API and in the CRDs", () => {
  const typo = (kind, name, edit, want) => {
    const o = structuredClone(find(rendered.mesh, kind, name));
    edit(o);
    assert.deepEqual(unknownFields(o), [want], `${kind}/${name}`);
  };
  typo("Deployment", "tbms-broker", (o) => { o.spec.template.spec.containers[0].readinesProbe = {}; },
    "spec.template.spec.containers[0].readinesProbe");
  typo("HorizontalPodAutoscaler", "tbms-worker", (o) => { o.spec.metrics[0].external.metrc = {}; }, "spec.metrics[0].external.metrc");
  typo("ServiceMonitor", "tbms-broker", (o) => { o.spec.endpoints[0].intervl = "1s"; }, "spec.endpoints[0].intervl");
  typo("DestinationRule", "tbms-worker", (o) => { o.spec.trafficPolicy.tsl = {}; }, "spec.trafficPolicy.tsl");
  typo("PeerAuthentication", "default", (o) => { o.spec.mtls.mod = "STRICT"; }, "spec.mtls.mod");
});

test("selectors select, and every port they name exists", () => {
  for (const [overlay, objects] of Object.entries(rendered)) {
    for (const s of objects.filter((o) => o.kind === "Service")) {
      const pods = selected(objects, s.spec.selector);
      assert.ok(pods.length > 0, `${overlay}: Service ${s.metadata.name} selects no Deployment`);
      for (const p of s.spec.ports) {
        for (const d of pods) {
          const names = d.spec.template.spec.containers.flatMap((c) => c.ports.map((cp) => cp.name));
          assert.ok(names.includes(p.targetPort), `${overlay}: ${s.metadata.name} port ${p.name} -> ${p.targetPort}`);
        }
      }
    }
    for (const kind of ["PodDisruptionBudget", "NetworkPolicy"]) {
      for (const o of objects.filter((x) => x.kind === kind)) {
        const selector = o.spec.selector?.matchLabels ?? o.spec.podSelector.matchLabels;
        assert.ok(selected(objects, selector).length > 0, `${overlay}: ${kind} ${o.metadata.name} selects nothing`);
      }
    }
    for (const m of objects.filter((o) => o.kind === "ServiceMonitor")) {
      const services = objects.filter((o) => o.kind === "Service" && matches(m.spec.selector.matchLabels, o.metadata.labels));
      assert.equal(services.length, 1, `${overlay}: ServiceMonitor ${m.metadata.name} selects one Service`);
      for (const e of m.spec.endpoints) assert.ok(services[0].spec.ports.some((p) => p.name === e.port));
    }
    for (const d of deployments(objects)) {
      const c = d.spec.template.spec.containers[0];
      const ports = new Set(c.ports.flatMap((p) => [p.name, p.containerPort]));
      const probes = c.image.startsWith("tbms") ? ["startupProbe", "readinessProbe", "livenessProbe"] : ["readinessProbe", "livenessProbe"];
      for (const probe of probes) {
        assert.ok(c[probe], `${d.metadata.name} has a ${probe}`);
        const port = c[probe].httpGet?.port ?? c[probe].grpc?.port ?? c[probe].tcpSocket?.port;
        assert.ok(ports.has(port), `${d.metadata.name} ${probe} port ${port}`);
      }
      assert.ok(c.resources.requests && c.resources.limits, `${d.metadata.name} has requests and limits`);
    }
  }
});

test("what the pods mount and read exists: ConfigMaps, the Secret, service accounts", () => {
  for (const [overlay, objects] of Object.entries(rendered)) {
    for (const d of deployments(objects)) {
      const spec = d.spec.template.spec;
      for (const v of spec.volumes ?? []) {
        assert.ok(find(objects, "ConfigMap", v.configMap.name), `${overlay}: ${d.metadata.name} mounts ${v.configMap.name}`);
      }
      for (const e of spec.containers[0].envFrom ?? []) {
        assert.ok(find(objects, "Secret", e.secretRef.name), `${overlay}: ${d.metadata.name} reads ${e.secretRef.name}`);
      }
      if (spec.serviceAccountName) assert.ok(find(objects, "ServiceAccount", spec.serviceAccountName));
    }
  }
});

test("the houses are house/demo split for the cluster, mounted file by file", () => {
  const split = path.join(work, "split");
  execFileSync("python3", [path.join(root, "deploy/fleet/house_split.py"), path.join(root, "house/demo"), "--out", split,
    "--endpoints", "tbms-worker:8001", "--pods-per-endpoint", "8", "--local", "keysearch"], { stdio: "ignore" });
  for (const part of ["broker", "worker"]) {
    const files = listFiles(path.join(split, part));
    assert.deepEqual(files, listFiles(path.join(root, "deploy/k8s/base/house", part)), `${part}: split again, same files`);
    const d = find(rendered.small, "Deployment", `tbms-${part}`);
    const volume = d.spec.template.spec.volumes.find((v) => v.name === "house");
    const data = find(rendered.small, "ConfigMap", volume.configMap.name).data;
    assert.deepEqual(volume.configMap.items.map((i) => i.path).sort(), files, `${part}: every file mounted`);
    for (const item of volume.configMap.items) {
      const want = fs.readFileSync(path.join(split, part, item.path), "utf8");
      assert.equal(data[item.key], want, `${part}: ${item.path} is deploy/fleet/house_split.py's`);
    }
  }
});

test("tbms house check accepts both houses with the cluster's keys", () => {
  const keys = fs.readFileSync(path.join(work, "k8s/base/keys.env"), "utf8");
  const env = { ...process.env };
  for (const line of keys.split("\n").filter((l) => /^\w+=/.test(l))) env[line.split("=")[0]] = line.slice(line.indexOf("=") + 1);
  for (const part of ["broker", "worker"]) {
    const r = spawnSync(tbms, ["house", "check", path.join(root, "deploy/k8s/base/house", part)], { env, encoding: "utf8" });
    assert.equal(r.status, 0, `${part}: ${r.stdout}${r.stderr}`);
  }
});

test("the containers' flags are tbms serve's, and the drain fits the grace period", () => {
  const help = execFileSync(tbms, ["serve", "--help"], { encoding: "utf8" });
  const maxTlocS = 50 / 1000; // the demo's one task (house/demo/instances.toml)
  for (const name of ["tbms-broker", "tbms-worker"]) {
    const spec = find(rendered.small, "Deployment", name).spec.template.spec;
    const c = spec.containers[0];
    assert.equal(c.args[0], "serve");
    for (const a of c.args.slice(1)) assert.match(help, new RegExp(`--${a.slice(2).split("=")[0]}\\b`), `${name}: ${a}`);
    const drain = Number(flag(c.args, "drain-delay-s"));
    const preStop = c.lifecycle.preStop.sleep.seconds;
    assert.ok(drain > 0 && spec.terminationGracePeriodSeconds >= preStop + drain + maxTlocS + 1,
      `${name}: grace ${spec.terminationGracePeriodSeconds} s >= preStop ${preStop} + drain ${drain} + tloc`);
    assert.equal(c.resources.requests.cpu, c.resources.limits.cpu, `${name}: Guaranteed CPU`);
    assert.ok(Number(flag(c.args, "threads")) <= Number(c.resources.limits.cpu), `${name}: no more io threads than cores`);
  }
  const broker = find(rendered.small, "Deployment", "tbms-broker").spec.template.spec.containers[0];
  const [host, port] = flag(broker.args, "replay-store").split(":");
  assert.ok(find(rendered.small, "Service", host).spec.ports.some((p) => p.port === Number(port)), "replay store Service");
});

test("the brokers reach the workers by the headless Service, with room for every pod the autoscaler may add", () => {
  const service = find(rendered.small, "Service", "tbms-worker");
  assert.equal(service.spec.clusterIP, "None", "headless: DNS answers every worker");
  const hpa = find(rendered.small, "HorizontalPodAutoscaler", "tbms-worker");
  assert.equal(hpa.spec.scaleTargetRef.name, find(rendered.small, "Deployment", "tbms-worker").metadata.name);
  const house = (part, model) => toml(path.join(root, "deploy/k8s/base/house", part, model, "model.toml"));
  for (const model of ["embedding", "svm", "bayes"]) {
    const remote = house("broker", model).remote;
    const grpc = service.spec.ports.find((p) => p.name === "grpc").port;
    assert.deepEqual(remote.endpoints, [`${service.metadata.name}:${grpc}`], model);
    const worker = house("worker", model);
    const perPod = (worker.replicas ?? 1) * (worker.batching?.max_batch_size ?? 8);
    assert.ok(remote.in_flight >= perPod * hpa.spec.maxReplicas, `${model}: in_flight ${remote.in_flight} fills ${hpa.spec.maxReplicas} pods`);
  }
});

test("the recording rules parse, and the autoscaler's metric is one of them", () => {
  const rule = find(rendered.small, "PrometheusRule", "tbms");
  const file = path.join(work, "rules.yaml");
  fs.writeFileSync(file, JSON.stringify({ groups: rule.spec.groups }));
  const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const adapter = parseAllDocuments(fs.readFileSync(path.join(root, "deploy/k8s/prometheus-adapter/values.yaml"), "utf8"))[0].toJS();
  const external = adapter.rules.external[0];
  const recorded = rule.spec.groups.flatMap((g) => g.rules).map((x) => x.record).filter(Boolean);
  assert.ok(recorded.includes(/^'?([\w:]+)/.exec(external.seriesQuery)[1]), external.seriesQuery);
  const hpa = find(rendered.small, "HorizontalPodAutoscaler", "tbms-worker");
  assert.equal(hpa.spec.metrics[0].external.metric.name, external.name.as);
  const serviceMonitorJobs = rendered.small.filter((o) => o.kind === "ServiceMonitor")
    .map((m) => rendered.small.find((s) => s.kind === "Service" && matches(m.spec.selector.matchLabels, s.metadata.labels)).metadata.name);
  for (const g of rule.spec.groups) {
    for (const x of g.rules) {
      for (const [, job] of x.expr.matchAll(/job="([^"]+)"/g)) assert.ok(serviceMonitorJobs.includes(job), `${x.record ?? x.alert}: job ${job}`);
    }
  }
});

test("the mesh overlay: sidecars injected, mTLS strict, workers and the store take the brokers' identity only", () => {
  const objects = rendered.mesh;
  assert.equal(find(objects, "Namespace", "tbms").metadata.labels["istio-injection"], "enabled");
  assert.equal(find(objects, "PeerAuthentication", "default").spec.mtls.mode, "STRICT");
  const broker = find(objects, "Deployment", "tbms-broker").spec.template;
  const principal = `cluster.local/ns/${find(objects, "Namespace", "tbms").metadata.name}/sa/${broker.spec.serviceAccountName}`;
  for (const name of ["tbms-worker", "tbms-redis"]) {
    const policy = find(objects, "AuthorizationPolicy", name);
    assert.ok(selected(objects, policy.spec.selector.matchLabels).length === 1, `${name}: selects its pods`);
    assert.deepEqual(policy.spec.rules[0].from[0].source.principals, [principal], name);
  }
  for (const d of deployments(objects).filter((x) => x.metadata.name !== "tbms-redis")) {
    const config = JSON.parse(d.spec.template.metadata.annotations["proxy.istio.io/config"]);
    const c = d.spec.template.spec.containers[0];
    const drainS = Number(flag(c.args, "drain-delay-s")) + c.lifecycle.preStop.sleep.seconds;
    assert.ok(parseFloat(config.terminationDrainDuration) >= drainS, `${d.metadata.name}: the sidecar outlives the drain`);
  }
  assert.ok(findPrefix(objects, "Secret", "tbms-keys"));
});

test("the image installs the Debian package of every library tbms links", () => {
  const dockerfile = fs.readFileSync(path.join(root, "deploy/docker/Dockerfile"), "utf8");
  const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const installed = new Set(runtime.match(/install[^&]*/)[0].split(/[\s\\]+/));
  const libraries = execFileSync("ldd", [tbms], { encoding: "utf8" }).split("\n")
    .map((l) => /=> (\/\S+)/.exec(l)?.[1]).filter(Boolean).map((f) => fs.realpathSync(f));
  // With merged /usr, dpkg may know a library under /lib rather than /usr/lib.
  const unmerged = (f) => f.replace(/^\/usr\//, "/");
  const wanted = new Set(libraries.map(unmerged));
  const search = spawnSync("dpkg", ["-S", ...libraries.map((f) => path.basename(f))], { encoding: "utf8" }).stdout
    .split("\n").map((l) => /^(.+): (\S+)$/.exec(l)).filter((m) => m && wanted.has(unmerged(m[2])));
  const found = new Set(search.map((m) => unmerged(m[2])));
  assert.deepEqual([...wanted].filter((f) => !found.has(f)), [], "libraries dpkg does not know");
  const owners = search.map((m) => m[1].split(/[:,]/)[0]);
  const missing = [...new Set(owners)].filter((p) => !installed.has(p) && p !== "libc6" && !p.startsWith("libgcc"));
  assert.deepEqual(missing, [], "deploy/docker/Dockerfile's runtime stage lacks these packages");
});

// The object as the API server reads it: kustomize folds a Secret's base64
// over lines, and the server's base64 decoder skips line breaks.
function apiForm(o) {
  if (o.kind !== "Secret" || !o.data) return o;
  return { ...o, data: Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, v.replace(/\s+/g, "")])) };
}

function listFiles(dir, prefix = "") {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(path.join(dir, e.name), prefix + e.name + "/") : [prefix + e.name]).sort();
}

function toml(file) {
  const json = execFileSync("python3", ["-c", "import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],'rb'))))", file]);
  return JSON.parse(json);
}
