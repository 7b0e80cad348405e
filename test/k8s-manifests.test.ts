import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { promisify } from "node:util";
import { parse, parseAllDocuments } from "yaml";
import { topologyNamesFromEnv } from "@aa/event-bus";
import { IngestConfigSchema } from "../services/ingest/src/config.js";
import { NormalizeConfigSchema } from "../services/normalize/src/config.js";
import { ROOT } from "./helpers/ops-scripts.js";

const BASE = join(ROOT, "deploy/k8s/base");
const OVERLAYS = join(ROOT, "deploy/k8s/overlays");
const DOCKERFILE = join(ROOT, "deploy/docker/Dockerfile");
/** The services' shutdown grace (onShutdownSignal): the Pod must be given longer. */
const SERVICE_SHUTDOWN_GRACE_S = 25;

// Parsed YAML, checked field by field by the assertions below.
type Obj = Record<string, any>;
const SERVICES = [{ name: "ingest-service", port: 4101 }, { name: "normalize-service", port: 4102 }] as const;

async function loadBase(): Promise<Obj[]> {
  const files = (await readdir(BASE)).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
  const docs: Obj[] = [];
  for (const file of files.sort()) {
    for (const doc of parseAllDocuments(await readFile(join(BASE, file), "utf8"))) {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      docs.push(doc.toJS() as Obj);
    }
  }
  return docs;
}

const find = (docs: Obj[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata?.name === name);
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const podSpecs = (docs: Obj[]) => docs.filter((d) => d.kind === "Deployment" || d.kind === "Job").map((d) => ({ owner: `${d.kind}/${d.metadata.name}`, spec: d.spec.template.spec as Obj }));

/** Every environment variable name the services and the ops tooling read. */
function variablesTheCodeReads(): Set<string> {
  const read = new Set([...Object.keys(IngestConfigSchema.properties), ...Object.keys(NormalizeConfigSchema.properties), "NODE_ENV"]);
  topologyNamesFromEnv(new Proxy({}, { get: (_t, key) => (typeof key === "string" && read.add(key), undefined) }));
  return read;
}

async function kustomize(overlay: string): Promise<Obj[] | undefined> {
  try {
    const { stdout } = await promisify(execFile)("kubectl", ["kustomize", join(OVERLAYS, overlay)], { timeout: 60_000 });
    return parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return undefined;
    throw error;
  }
}

describe("Kubernetes manifests (deploy/k8s)", () => {
  let docs: Obj[];
  before(async () => (docs = await loadBase()));

  test("the base has the runbook's objects, each with apiVersion, kind and name, and no Secret", () => {
    const kinds = docs.map((d) => `${d.kind}/${d.metadata?.name}`).sort();
    assert.deepEqual(kinds, [
      "ConfigMap/event-bus-config",
      "Deployment/ingest-service", "Deployment/normalize-service",
      "Job/event-bus-topology", "Job/normalize-migrate",
      "PodDisruptionBudget/ingest-service", "PodDisruptionBudget/normalize-service",
      "Service/ingest-service", "Service/ingest-service-pods", "Service/normalize-service", "Service/normalize-service-pods",
    ]);
    for (const d of docs) assert.match(String(d.apiVersion), /^(v1|apps\/v1|batch\/v1|policy\/v1)$/, `${d.kind}: apiVersion`);
    assert.ok(!JSON.stringify(docs).includes("postgres://"), "no credentials in the manifests");
  });

  test("Deployments carry app=<name>, and their selectors, Services and PDBs select the pods", () => {
    for (const { name, port } of SERVICES) {
      const deployment = find(docs, "Deployment", name)!;
      const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
      assert.equal(deployment.metadata.labels.app, name);
      assert.equal(podLabels.app, name, "kubectl logs -l app=… finds the pods");
      assert.ok(matches(deployment.spec.selector.matchLabels, podLabels), `${name}: selector`);
      for (const svcName of [name, `${name}-pods`]) {
        const svc = find(docs, "Service", svcName)!;
        assert.ok(matches(svc.spec.selector, podLabels), `${svcName}: selector`);
        assert.equal(svc.spec.ports[0].port, port, `${svcName}: port`);
      }
      assert.equal(find(docs, "Service", `${name}-pods`)!.spec.clusterIP, "None", "headless, one DNS record per pod");
      const pdb = find(docs, "PodDisruptionBudget", name)!;
      assert.ok(matches(pdb.spec.selector.matchLabels, podLabels), `${name}: PDB selector`);
    }
  });

  test("containers: ports 4101/4102, probes on declared ports, readiness on /health, liveness not on /health for normalize", () => {
    for (const { name, port } of SERVICES) {
      const pod = find(docs, "Deployment", name)!.spec.template;
      const [container] = pod.spec.containers as Obj[];
      const ports = container!.ports as { name: string; containerPort: number }[];
      assert.deepEqual(ports.map((p) => p.containerPort), [port]);
      for (const probe of ["readinessProbe", "livenessProbe"]) {
        const target = container![probe]?.httpGet?.port;
        assert.ok(ports.some((p) => p.name === target || p.containerPort === target), `${name} ${probe}: port ${target}`);
      }
      assert.equal(container!.readinessProbe.httpGet.path, "/health");
      assert.ok(container!.livenessProbe.httpGet.path.length > 0);
      assert.equal(pod.metadata.annotations["prometheus.io/scrape"], "true");
      assert.equal(pod.metadata.annotations["prometheus.io/port"], String(port));
      assert.equal(container!.env.find((e: Obj) => e.name === "PORT")?.value, String(port));
    }
    const normalize = find(docs, "Deployment", "normalize-service")!.spec.template.spec.containers[0];
    assert.notEqual(normalize.livenessProbe.httpGet.path, "/health", "a database blip must not restart normalize");
  });

  test("pods: non-root, resources, grace longer than the services' drain", () => {
    for (const { owner, spec } of podSpecs(docs)) {
      assert.equal(spec.securityContext?.runAsNonRoot, true, `${owner}: runAsNonRoot`);
      assert.ok(spec.securityContext.runAsUser > 0, `${owner}: runAsUser`);
      for (const c of spec.containers as Obj[]) {
        assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, `${owner}: resources`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${owner}: allowPrivilegeEscalation`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ["ALL"]);
      }
      if (owner.startsWith("Deployment/")) assert.ok(spec.terminationGracePeriodSeconds >= 30 && spec.terminationGracePeriodSeconds > SERVICE_SHUTDOWN_GRACE_S, `${owner}: grace`);
    }
  });

  test("envFrom names the ConfigMap in the manifests; DATABASE_URL comes from one Secret per role", () => {
    const configMaps = new Set(docs.filter((d) => d.kind === "ConfigMap").map((d) => d.metadata.name));
    for (const { owner, spec } of podSpecs(docs)) {
      for (const c of spec.containers as Obj[]) {
        assert.ok((c.envFrom ?? []).length > 0, `${owner}: envFrom`);
        for (const from of c.envFrom) assert.ok(configMaps.has(from.configMapRef?.name), `${owner}: envFrom ${JSON.stringify(from)}`);
      }
    }
    const envOf = (kind: string, name: string) => find(docs, kind, name)!.spec.template.spec.containers[0].env as Obj[];
    // deploy/postgres/roles.sql: the owner migrates, normalize writes readings, ingest reads API keys.
    for (const [kind, name, secret] of [["Job", "normalize-migrate", "normalize-migrator-database"], ["Deployment", "normalize-service", "normalize-database"], ["Deployment", "ingest-service", "ingest-database"]] as const) {
      assert.deepEqual(envOf(kind, name).find((e) => e.name === "DATABASE_URL")?.valueFrom, { secretKeyRef: { name: secret, key: "DATABASE_URL" } }, name);
    }
    assert.equal(envOf("Deployment", "normalize-service").find((e) => e.name === "RUN_MIGRATIONS")?.value, "false", "normalize's role has no DDL rights");
  });

  test("event-bus-config holds only variables the code reads, and every key of staging.env.example", async () => {
    const data = find(docs, "ConfigMap", "event-bus-config")!.data as Record<string, string>;
    const read = variablesTheCodeReads();
    assert.ok(read.has("STREAM_CORE_NAME") && read.has("NATS_URL"), [...read].join(", "));
    assert.deepEqual(Object.keys(data).filter((k) => !read.has(k)), [], "keys nobody reads");
    assert.ok(!("PORT" in data) && !("DATABASE_URL" in data), "PORT is per container, DATABASE_URL a Secret");
    const example = await readFile(join(ROOT, "docs/phase-3/ops/staging.env.example"), "utf8");
    for (const [, key, value] of example.matchAll(/^([A-Z_]+)=(.*)$/gm)) assert.equal(data[key!], value, `${key} as in staging.env.example`);
    assert.ok(Object.values(data).every((v) => typeof v === "string"), "ConfigMap values are strings");
  });

  test("prometheus.yml scrapes the headless Services on the container ports", async () => {
    const config = parse(await readFile(join(ROOT, "deploy/prometheus/prometheus.yml"), "utf8")) as Obj;
    for (const { name, port } of SERVICES) {
      const job = (config.scrape_configs as Obj[]).find((j) => j.job_name === name);
      assert.deepEqual(job?.dns_sd_configs?.[0]?.names, [`${name}-pods.staging.svc.cluster.local`]);
      assert.equal(job.dns_sd_configs[0].port, port);
    }
  });

  test("the runbook's kubectl commands name objects that exist", async () => {
    const sources = ["docs/phase-3/ops/PHASE_B_RUNBOOK.md", "docs/phase-3/ops/monitoring-queries.md"].map((f) => join(ROOT, f));
    let text = "";
    for (const file of sources) text += await readFile(file, "utf8").catch(() => "");
    const names = (re: RegExp) => [...new Set([...text.matchAll(re)].map((m) => m[1]!))];
    const deployments = names(/deployment\/([a-z0-9-]+)/g);
    assert.ok(deployments.length > 0, "no kubectl deployment/… found");
    for (const name of [...deployments, ...names(/-l app=([a-z0-9-]+)/g)]) assert.ok(find(docs, "Deployment", name), `deployment ${name}`);
    for (const name of names(/configmap ([a-z0-9-]+)/gi)) assert.ok(find(docs, "ConfigMap", name), `configmap ${name}`);
    for (const ns of names(/(?:-n |--namespace=)([a-z0-9-]+)/g)) await access(join(OVERLAYS, ns, "kustomization.yaml"));
  });

  for (const [overlay, replicas] of [["staging", 1], ["production", 3]] as const) {
    test(`kustomize build of overlays/${overlay}: namespace, ${replicas} replica(s), REPLICAS=${replicas}`, async (t) => {
      const built = await kustomize(overlay);
      if (!built) return t.skip("kubectl is not installed (kustomize build not checked)");
      assert.ok(find(built, "Namespace", overlay));
      for (const d of built.filter((o) => o.kind !== "Namespace")) assert.equal(d.metadata.namespace, overlay, `${d.kind}/${d.metadata.name}`);
      for (const { name } of SERVICES) assert.equal(find(built, "Deployment", name)?.spec.replicas, replicas);
      assert.equal(find(built, "ConfigMap", "event-bus-config")?.data.REPLICAS, String(replicas));
      for (const { spec } of podSpecs(built)) for (const c of spec.containers as Obj[]) assert.match(c.image, /^athlete-ally\/[a-z-]+:\d+\.\d+\.\d+$/);
    });
  }
});

describe("Dockerfile (deploy/docker)", () => {
  test("multi-stage: npm ci, build, prune; non-root runtime; one target per image the manifests use", async () => {
    const text = await readFile(DOCKERFILE, "utf8");
    assert.match(text, /RUN npm ci\b/);
    assert.match(text, /npm run build/);
    assert.match(text, /npm prune --omit=dev/);
    assert.match(text, /FROM \$\{NODE_IMAGE\} AS runtime[\s\S]*USER node/);
    const targets = new Map([...text.matchAll(/--target (\w+)\s+-t ([\w/-]+)/g)].map((m) => [m[2]!, m[1]!]));
    const images = podSpecs(await loadBase()).flatMap(({ spec }) => (spec.containers as Obj[]).map((c) => String(c.image).split(":")[0]!));
    for (const image of images) {
      const target = targets.get(image);
      assert.ok(target, `no build line for ${image}`);
      assert.match(text, new RegExp(`FROM runtime AS ${target}\\b`));
    }
    for (const [, entry] of text.matchAll(/"node", "([^"]+)"/g)) await access(join(ROOT, entry!));
    // npm ci fails when a workspace of the lockfile is missing.
    const { workspaces } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { workspaces: string[] };
    for (const ws of workspaces) assert.ok(text.includes(`COPY ${ws}/package.json ${ws}/\n`), `Dockerfile: COPY ${ws}/package.json`);
  });
});
