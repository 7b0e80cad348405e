import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { promisify } from "node:util";
import { parse, parseAllDocuments } from "yaml";
import { topologyNamesFromEnv } from "@aa/event-bus";
import { IngestConfigSchema } from "../services/ingest/src/config.js";
import { NormalizeConfigSchema } from "../services/normalize/src/config.js";
import { ROOT } from "./helpers/ops-scripts.js";

const BASE = join(ROOT, "deploy/k8s/base");
const OPS = join(ROOT, "deploy/k8s/ops");
const OVERLAYS = join(ROOT, "deploy/k8s/overlays");
/** The workloads that connect to NATS in production. */
const NATS_WORKLOADS = [
  ["Deployment", "ingest-service"],
  ["Deployment", "normalize-service"],
  ["Job", "event-bus-topology"],
  ["Pod", "aa-ops"],
] as const;
const DOCKERFILE = join(ROOT, "deploy/docker/Dockerfile");
/** The services' shutdown grace (onShutdownSignal): the Pod must be given longer. */
const SERVICE_SHUTDOWN_GRACE_S = 25;

// Parsed YAML, checked field by field by the assertions below.
// Parsed YAML of any shape: the tests walk it like the manifests' own readers would.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;
/** `admin`: where /health and /metrics are served (ingest's ADMIN_PORT; normalize has no public traffic). */
const SERVICES = [
  { name: "ingest-service", port: 4101, admin: 9101 },
  { name: "normalize-service", port: 4102, admin: 4102 },
] as const;
const PART_OF = "app.kubernetes.io/part-of";

async function loadDir(dir: string): Promise<Obj[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
  const docs: Obj[] = [];
  for (const file of files.sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), "utf8"))) {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      docs.push(doc.toJS() as Obj);
    }
  }
  return docs;
}

/** The base and the ops objects (Jobs, aa-ops pod), as written. */
const loadBase = async (): Promise<Obj[]> => [...(await loadDir(BASE)), ...(await loadDir(OPS))];

const find = (docs: Obj[], kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata?.name === name);
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const podSpecs = (docs: Obj[]) =>
  docs
    .filter((d) => ["Deployment", "Job", "Pod"].includes(d.kind))
    .map((d) => ({
      owner: `${d.kind}/${d.metadata.name}`,
      spec: (d.kind === "Pod" ? d.spec : d.spec.template.spec) as Obj,
      labels: (d.kind === "Pod" ? d.metadata.labels : d.spec.template.metadata.labels) as Record<string, string>,
    }));

/** Every environment variable name the services and the ops tooling read. */
function variablesTheCodeReads(): Set<string> {
  const read = new Set([
    ...Object.keys(IngestConfigSchema.properties),
    ...Object.keys(NormalizeConfigSchema.properties),
    "NODE_ENV",
  ]);
  topologyNamesFromEnv(new Proxy({}, { get: (_t, key) => (typeof key === "string" && read.add(key), undefined) }));
  return read;
}

const envOf = (container: Obj, name: string): string | undefined =>
  (container.env as Obj[] | undefined)?.find((e) => e.name === name)?.value;

/** The rendered overlay. Without kubectl this fails (never skips): a green run must have built the manifests. */
async function kustomize(overlay: string, overlays = OVERLAYS): Promise<Obj[]> {
  try {
    const { stdout } = await promisify(execFile)("kubectl", ["kustomize", join(overlays, overlay)], {
      timeout: 60_000,
    });
    return parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
  } catch (error) {
    if ((error as { code?: unknown }).code !== "ENOENT") throw error;
    throw new Error(
      "kubectl is not installed: these tests build the overlays with `kubectl kustomize` (Debian: apt-get install kubernetes-client; .ci/run installs it)",
      { cause: error },
    );
  }
}

describe("Kubernetes manifests (deploy/k8s)", () => {
  let docs: Obj[];
  before(async () => (docs = await loadBase()));

  test("the base has the runbook's objects, each with apiVersion, kind and name, and no Secret", () => {
    const kinds = docs.map((d) => `${d.kind}/${d.metadata?.name}`).sort();
    assert.deepEqual(kinds, [
      "ConfigMap/event-bus-config",
      "Deployment/ingest-service",
      "Deployment/normalize-service",
      "Job/event-bus-topology",
      "Job/normalize-migrate",
      "NetworkPolicy/aa-ops",
      "NetworkPolicy/event-bus-topology",
      "NetworkPolicy/event-pipeline-default-deny",
      "NetworkPolicy/event-pipeline-dns",
      "NetworkPolicy/ingest-service",
      "NetworkPolicy/nats",
      "NetworkPolicy/normalize-migrate",
      "NetworkPolicy/normalize-service",
      "Pod/aa-ops",
      "PodDisruptionBudget/ingest-service",
      "PodDisruptionBudget/normalize-service",
      "Service/ingest-service",
      "Service/ingest-service-pods",
      "Service/normalize-service",
      "Service/normalize-service-pods",
    ]);
    for (const d of docs)
      assert.match(
        String(d.apiVersion),
        /^(v1|apps\/v1|batch\/v1|policy\/v1|networking\.k8s\.io\/v1)$/,
        `${d.kind}: apiVersion`,
      );
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

  test("containers: ports 4101/4102, ingest's /health and /metrics on ADMIN_PORT, readiness on /health, liveness not on /health for normalize", () => {
    for (const { name, port, admin } of SERVICES) {
      const pod = find(docs, "Deployment", name)!.spec.template;
      const [container] = pod.spec.containers as Obj[];
      const ports = container!.ports as { name: string; containerPort: number }[];
      assert.deepEqual(
        ports.map((p) => p.containerPort),
        [...new Set([port, admin])],
      );
      for (const probe of ["readinessProbe", "livenessProbe"]) {
        const target = container![probe]?.httpGet?.port;
        assert.equal(
          ports.find((p) => p.name === target || p.containerPort === target)?.containerPort,
          admin,
          `${name} ${probe}: port ${target}`,
        );
      }
      assert.equal(container!.readinessProbe.httpGet.path, "/health");
      assert.ok(container!.livenessProbe.httpGet.path.length > 0);
      assert.equal(pod.metadata.annotations["prometheus.io/scrape"], "true");
      assert.equal(
        pod.metadata.annotations["prometheus.io/port"],
        String(admin),
        "/metrics is scraped where it is served",
      );
      assert.equal(envOf(container!, "PORT"), String(port));
      if (admin !== port)
        assert.equal(envOf(container!, "ADMIN_PORT"), String(admin), "/metrics is not on the public port");
    }
    const normalize = find(docs, "Deployment", "normalize-service")!.spec.template.spec.containers[0];
    assert.notEqual(normalize.livenessProbe.httpGet.path, "/health", "a database blip must not restart normalize");
  });

  test("each service caps V8's heap below its memory limit, leaving room for the rest of the process", () => {
    // V8 sizes its heap from the node's memory, not the container's: without a cap a busy service grows
    // garbage past its limit and is OOM-killed. On top of the old space comes the young generation, three
    // semi-spaces (Node 26's default is 32 MiB each, so the manifests pin them), and 48 MiB for code and buffers.
    for (const name of ["ingest-service", "normalize-service"]) {
      const container = find(docs, "Deployment", name)!.spec.template.spec.containers[0];
      const options = envOf(container, "NODE_OPTIONS") ?? "";
      const cap = /--max-old-space-size=(\d+)/.exec(options)?.[1];
      const semi = /--max-semi-space-size=(\d+)/.exec(options)?.[1];
      assert.ok(
        cap && semi,
        `${name}: NODE_OPTIONS sets --max-old-space-size and --max-semi-space-size, got ${options}`,
      );
      const limit = /^(\d+)Mi$/.exec(container.resources.limits.memory)?.[1];
      assert.ok(limit, `${name}: memory limit in Mi, got ${container.resources.limits.memory}`);
      const heap = Number(cap) + 3 * Number(semi);
      assert.ok(heap + 48 <= Number(limit), `${name}: heap ${heap} MiB + 48 MiB within the ${limit}Mi limit`);
    }
  });

  test("pods: non-root, no service account token, resources, grace longer than the services' drain", () => {
    for (const { owner, spec } of podSpecs(docs)) {
      assert.equal(spec.securityContext?.runAsNonRoot, true, `${owner}: runAsNonRoot`);
      assert.equal(spec.automountServiceAccountToken, false, `${owner}: automountServiceAccountToken`);
      assert.ok(spec.securityContext.runAsUser > 0, `${owner}: runAsUser`);
      for (const c of spec.containers as Obj[]) {
        assert.ok(
          c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory,
          `${owner}: resources`,
        );
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${owner}: allowPrivilegeEscalation`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ["ALL"]);
      }
      if (owner.startsWith("Deployment/"))
        assert.ok(
          spec.terminationGracePeriodSeconds >= 30 && spec.terminationGracePeriodSeconds > SERVICE_SHUTDOWN_GRACE_S,
          `${owner}: grace`,
        );
    }
  });

  test("envFrom names the ConfigMap in the manifests; DATABASE_URL comes from one Secret per role", () => {
    const configMaps = new Set(docs.filter((d) => d.kind === "ConfigMap").map((d) => d.metadata.name));
    for (const { owner, spec } of podSpecs(docs)) {
      for (const c of spec.containers as Obj[]) {
        assert.ok((c.envFrom ?? []).length > 0, `${owner}: envFrom`);
        for (const from of c.envFrom)
          assert.ok(configMaps.has(from.configMapRef?.name), `${owner}: envFrom ${JSON.stringify(from)}`);
      }
    }
    const envList = (kind: string, name: string) =>
      find(docs, kind, name)!.spec.template.spec.containers[0].env as Obj[];
    // deploy/postgres/roles.sql: the owner migrates, normalize writes readings, ingest reads API keys.
    for (const [kind, name, secret] of [
      ["Job", "normalize-migrate", "normalize-migrator-database"],
      ["Deployment", "normalize-service", "normalize-database"],
      ["Deployment", "ingest-service", "ingest-database"],
    ] as const) {
      assert.deepEqual(
        envList(kind, name).find((e) => e.name === "DATABASE_URL")?.valueFrom,
        { secretKeyRef: { name: secret, key: "DATABASE_URL" } },
        name,
      );
    }
    assert.deepEqual(
      find(docs, "Pod", "aa-ops")!.spec.containers[0].env.find((e: Obj) => e.name === "DATABASE_URL")?.valueFrom,
      { secretKeyRef: { name: "ops-database", key: "DATABASE_URL" } },
      "aa-ops: the ops role",
    );
    assert.equal(
      envList("Deployment", "normalize-service").find((e) => e.name === "RUN_MIGRATIONS")?.value,
      "false",
      "normalize's role has no DDL rights",
    );
  });

  test("event-bus-config holds only variables the code reads, and every key of staging.env.example", async () => {
    const data = find(docs, "ConfigMap", "event-bus-config")!.data as Record<string, string>;
    const read = variablesTheCodeReads();
    assert.ok(read.has("STREAM_CORE_NAME") && read.has("NATS_URL"), [...read].join(", "));
    assert.deepEqual(
      Object.keys(data).filter((k) => !read.has(k)),
      [],
      "keys nobody reads",
    );
    assert.ok(!("PORT" in data) && !("DATABASE_URL" in data), "PORT is per container, DATABASE_URL a Secret");
    const example = await readFile(join(ROOT, "docs/phase-3/ops/staging.env.example"), "utf8");
    for (const [, key, value] of example.matchAll(/^([A-Z_]+)=(.*)$/gm))
      assert.equal(data[key!], value, `${key} as in staging.env.example`);
    assert.ok(
      Object.values(data).every((v) => typeof v === "string"),
      "ConfigMap values are strings",
    );
  });

  test("prometheus.yml scrapes the headless Services of each environment on the admin ports", async () => {
    const config = parse(await readFile(join(ROOT, "deploy/prometheus/prometheus.yml"), "utf8")) as Obj;
    for (const environment of ["staging", "production"]) {
      for (const { name, admin } of SERVICES) {
        const job = (config.scrape_configs as Obj[]).find(
          (j) => j.dns_sd_configs?.[0]?.names?.[0] === `${name}-pods.${environment}.svc.cluster.local`,
        );
        assert.ok(job, `${name} in ${environment}`);
        assert.equal(job.dns_sd_configs[0].port, admin, `${name}: scraped on its admin port`);
        const labels = Object.fromEntries((job.relabel_configs as Obj[]).map((r) => [r.target_label, r.replacement]));
        assert.deepEqual(labels, { job: name, environment, namespace: environment });
      }
    }
  });

  test("the headless Services and normalize-service reach not-ready pods (diagnostic /health bodies in an outage)", () => {
    for (const name of ["ingest-service-pods", "normalize-service-pods", "normalize-service"]) {
      assert.equal(find(docs, "Service", name)!.spec.publishNotReadyAddresses, true, name);
    }
    assert.equal(
      find(docs, "Service", "ingest-service")!.spec.publishNotReadyAddresses,
      undefined,
      "clients reach ready ingest pods only",
    );
    assert.ok(
      find(docs, "Service", "ingest-service-pods")!.spec.ports.some((p: Obj) => p.port === 9101),
      "aa-ops --ingest-admin-url",
    );
  });

  test("the runbook's kubectl commands name objects that exist", async () => {
    const sources = ["docs/phase-3/ops/PHASE_B_RUNBOOK.md", "docs/phase-3/ops/monitoring-queries.md"].map((f) =>
      join(ROOT, f),
    );
    let text = "";
    for (const file of sources) text += await readFile(file, "utf8").catch(() => "");
    const names = (re: RegExp) => [...new Set([...text.matchAll(re)].map((m) => m[1]!))];
    const deployments = names(/deployment\/([a-z0-9-]+)/g);
    assert.ok(deployments.length > 0, "no kubectl deployment/… found");
    for (const name of deployments) assert.ok(find(docs, "Deployment", name), `deployment ${name}`);
    for (const name of names(/-l app=([a-z0-9-]+)/g))
      assert.ok(
        ["Deployment", "Job", "Pod"].some((kind) => find(docs, kind, name)),
        `-l app=${name}`,
      );
    for (const name of names(/(?:job|pod)\/([a-z0-9-]+)/g))
      assert.ok(find(docs, "Job", name) ?? find(docs, "Pod", name), `job or pod ${name}`);
    for (const name of names(/configmap ([a-z0-9-]+)/g)) assert.ok(find(docs, "ConfigMap", name), `configmap ${name}`);
    for (const ns of names(/(?:-n |--namespace=)([a-z0-9-]+)/g)) await access(join(OVERLAYS, ns, "kustomization.yaml"));
  });

  for (const [overlay, replicas] of [
    ["staging", 1],
    ["production", 3],
  ] as const) {
    test(`kustomize build of overlays/${overlay} and its ops/: namespace, ${replicas} replica(s), REPLICAS=${replicas}, one image tag`, async () => {
      const built = await kustomize(overlay);
      const ops = await kustomize(`${overlay}/ops`);
      assert.ok(find(built, "Namespace", overlay));
      for (const d of [...built, ...ops].filter((o) => o.kind !== "Namespace"))
        assert.equal(d.metadata.namespace, overlay, `${d.kind}/${d.metadata.name}`);
      for (const { name } of SERVICES) assert.equal(find(built, "Deployment", name)?.spec.replicas, replicas);
      const config = find(built, "ConfigMap", "event-bus-config")?.data as Record<string, string>;
      assert.equal(config.REPLICAS, String(replicas));
      assert.match(config.EVENT_STREAM_MODE ?? "", /^(single|multi)$/, "the overlay says which mode runs");
      // The services' overlay never carries a Job: the topology Job fails on the legacy topology by design.
      assert.deepEqual(
        built.filter((d) => d.kind === "Job"),
        [],
      );
      const tags = new Map<string, string>();
      for (const { owner, spec } of [...podSpecs(built), ...podSpecs(ops)]) {
        for (const c of spec.containers as Obj[]) {
          const [image, tag] = String(c.image).split("@")[0]!.split(":"); // the digest: test/images.test.ts
          assert.match(tag ?? "", /^\d+\.\d+\.\d+$/, `${owner}: pinned tag`);
          assert.equal(
            tags.get(image!) ?? tag,
            tag,
            `${owner}: ${image} has one tag in the overlay and its ops/ (kustomize edit set image in both)`,
          );
          tags.set(image!, tag!);
        }
      }
    });
  }
});

/**
 * The database URLs say sslmode=verify-full: a pod that connects without the server's CA fails
 * its first query. Every container given a DATABASE_URL must point PGSSLROOTCERT (or the URL's
 * sslrootcert) at a file of the postgres-ca Secret, mounted into that container.
 */
function databaseCaProblems(docs: Obj[]): string[] {
  const problems: string[] = [];
  for (const { owner, spec } of podSpecs(docs)) {
    for (const c of spec.containers as Obj[]) {
      if (!(c.env as Obj[] | undefined)?.some((e) => e.name === "DATABASE_URL")) continue;
      const path = envOf(c, "PGSSLROOTCERT");
      if (path === undefined) {
        problems.push(`${owner}/${c.name}: DATABASE_URL without PGSSLROOTCERT`);
        continue;
      }
      const mount = (c.volumeMounts as Obj[] | undefined)?.find((m) => path.startsWith(`${m.mountPath}/`));
      const volume = (spec.volumes as Obj[] | undefined)?.find((v) => v.name === mount?.name);
      if (volume?.secret?.secretName !== "postgres-ca")
        problems.push(`${owner}/${c.name}: PGSSLROOTCERT ${path} is not in a mounted postgres-ca Secret`);
    }
  }
  return problems;
}

describe("the database CA reaches every pod with a DATABASE_URL", () => {
  test("as written (base and ops) and as rendered for staging and production", async () => {
    const written = await loadBase();
    assert.ok(podSpecs(written).length >= 4, "the Deployments, the Jobs and the aa-ops pod");
    assert.deepEqual(databaseCaProblems(written), []);
    for (const overlay of ["staging", "production", "staging/ops", "production/ops"])
      assert.deepEqual(databaseCaProblems(await kustomize(overlay)), [], overlay);
  });

  test("the check itself names a pod that connects without the CA", async () => {
    const docs = await loadBase();
    const migrate = find(docs, "Job", "normalize-migrate")!;
    const container = migrate.spec.template.spec.containers[0] as Obj;
    container.env = (container.env as Obj[]).filter((e) => e.name !== "PGSSLROOTCERT");
    assert.deepEqual(databaseCaProblems(docs), ["Job/normalize-migrate/migrate: DATABASE_URL without PGSSLROOTCERT"]);
  });

  test("the runbook's Secret step creates postgres-ca and its gate checks it", async () => {
    const runbook = await readFile(join(ROOT, "docs/phase-3/ops/PHASE_B_RUNBOOK.md"), "utf8");
    assert.match(runbook, /kubectl create secret generic postgres-ca -n "\$NS" --from-file=ca\.crt=/);
    assert.match(runbook, /kubectl get secret -n "\$NS" [^\n]*\bpostgres-ca\b/);
  });
});

describe("the rendered production overlay (network policies, Jobs, limits)", () => {
  let all: Obj[] = [];
  before(async () => {
    all = [...(await kustomize("production")), ...(await kustomize("production/ops"))];
  });
  const policies = (docs: Obj[]) => docs.filter((d) => d.kind === "NetworkPolicy");
  const selects = (policy: Obj, labels: Record<string, string>) =>
    matches(policy.spec.podSelector.matchLabels ?? {}, labels);

  test("a default-deny NetworkPolicy covers every pod of the pipeline", () => {
    const docs = all;
    const deny = policies(docs).find((p) => p.metadata.name === "event-pipeline-default-deny")!;
    assert.deepEqual(deny.spec.policyTypes, ["Ingress", "Egress"]);
    assert.equal(deny.spec.ingress, undefined);
    assert.equal(deny.spec.egress, undefined);
    for (const { owner, labels } of podSpecs(docs)) assert.ok(selects(deny, labels), `${owner} carries ${PART_OF}`);
  });

  test("ingress: ingest's public port from anyone, the admin ports only from Prometheus and aa-ops", () => {
    const docs = all;
    const rulesFor = (app: string, port: number) =>
      policies(docs)
        .filter((p) => selects(p, { app, [PART_OF]: "athlete-ally-event-pipeline" }))
        .flatMap((p) => (p.spec.ingress ?? []) as Obj[])
        .filter((r) => (r.ports as Obj[]).some((x) => x.port === port));
    assert.ok(
      rulesFor("ingest-service", 4101).some((r) => r.from === undefined),
      "clients reach ingest :4101",
    );
    for (const [app, port] of [
      ["ingest-service", 9101],
      ["normalize-service", 4102],
    ] as const) {
      const rules = rulesFor(app, port);
      assert.ok(rules.length > 0, `${app}:${port}`);
      for (const rule of rules)
        assert.ok((rule.from as Obj[] | undefined)?.length, `${app}:${port} is not open to every pod`);
      const peers = JSON.stringify(rules.flatMap((r) => r.from));
      assert.match(peers, /"app.kubernetes.io\/name":"prometheus"/, `${app}:${port}: Prometheus`);
      assert.match(peers, /"app":"aa-ops"/, `${app}:${port}: aa-ops`);
    }
  });

  test("egress: the services reach NATS and PostgreSQL; NATS takes clients only from the pipeline", () => {
    const docs = all;
    const egressPorts = (app: string) =>
      new Set(
        policies(docs)
          .filter((p) => selects(p, { app, [PART_OF]: "athlete-ally-event-pipeline" }))
          .flatMap((p) => (p.spec.egress ?? []) as Obj[])
          .flatMap((r) => (r.ports as Obj[]).map((x) => x.port as number)),
      );
    for (const app of ["ingest-service", "normalize-service", "aa-ops"])
      for (const port of [53, 4222, 5432]) assert.ok(egressPorts(app).has(port), `${app} → :${port}`);
    assert.ok(
      egressPorts("event-bus-topology").has(4222) && !egressPorts("event-bus-topology").has(5432),
      "topology Job: NATS only",
    );
    assert.ok(
      egressPorts("normalize-migrate").has(5432) && !egressPorts("normalize-migrate").has(4222),
      "migrate Job: PostgreSQL only",
    );
    const nats = policies(docs).find((p) => p.metadata.name === "nats")!;
    const clientRule = (nats.spec.ingress as Obj[]).find((r) => (r.ports as Obj[]).some((x) => x.port === 4222))!;
    assert.deepEqual(
      clientRule.from.map((f: Obj) => [f.namespaceSelector, f.podSelector?.matchLabels]),
      [
        [undefined, { [PART_OF]: "athlete-ally-event-pipeline" }],
        [undefined, { "app.kubernetes.io/component": "nats-box" }],
      ],
      "pipeline pods and the nats CLI box of this namespace only",
    );
  });

  test("peers are pinned: other namespaces by kubernetes.io/metadata.name, egress off the cluster never wide open", () => {
    const rules = policies(all).flatMap((p) =>
      [
        ...((p.spec.ingress ?? []) as Obj[]).map((r) => ({ peers: r.from as Obj[] | undefined, r })),
        ...((p.spec.egress ?? []) as Obj[]).map((r) => ({ peers: r.to as Obj[] | undefined, r })),
      ].map((x) => ({
        ...x,
        policy: p.metadata.name as string,
      })),
    );
    const PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"];
    for (const { policy, peers, r } of rules) {
      for (const peer of peers ?? []) {
        const where = `${policy}: ${JSON.stringify(peer)}`;
        if (peer.namespaceSelector !== undefined)
          assert.equal(
            typeof peer.namespaceSelector.matchLabels?.["kubernetes.io/metadata.name"],
            "string",
            `${where}: a namespace by name, not any namespace`,
          );
        if (peer.ipBlock?.cidr === "0.0.0.0/0") {
          assert.deepEqual(
            (r.ports as Obj[]).map((x) => x.port),
            [443],
            `${where}: only https goes to the internet`,
          );
          for (const cidr of PRIVATE) assert.ok(peer.ipBlock.except?.includes(cidr), `${where}: excepts ${cidr}`);
        }
      }
    }
    const pg = rules.filter((x) => (x.r.ports as Obj[]).some((p) => p.port === 5432));
    assert.ok(pg.length > 0);
    for (const { policy, peers } of pg)
      assert.ok(
        (peers ?? []).every((peer) => peer.ipBlock === undefined || peer.ipBlock.cidr !== "0.0.0.0/0"),
        `${policy}: PostgreSQL only at private addresses or in-cluster pods`,
      );
  });

  test("`apply -k …/ops -l app=<name>` brings each ops object with its own NetworkPolicy, DNS included", () => {
    const docs = all;
    for (const app of ["normalize-migrate", "event-bus-topology", "aa-ops"]) {
      const selected = docs.filter((d) => d.metadata.labels?.app === app);
      assert.ok(
        selected.some((d) => ["Job", "Pod"].includes(d.kind)),
        `${app}: the workload`,
      );
      const policy = selected.find((d) => d.kind === "NetworkPolicy");
      assert.ok(policy, `${app}: its NetworkPolicy is selected too`);
      const ports = (policy.spec.egress as Obj[]).flatMap((r) => (r.ports as Obj[]).map((x) => x.port as number));
      assert.ok(ports.includes(53), `${app}: DNS, also before the base's policies exist`);
    }
  });

  /** Per workload: the NATS files its container is given, each a file of a required, mounted Secret. */
  function natsFiles(docs: Obj[], variables: readonly string[]): Map<string, string> {
    const seen = new Map<string, string>();
    for (const [kind, name] of NATS_WORKLOADS) {
      const spec: Obj = podSpecs(docs).find((p) => p.owner === `${kind}/${name}`)!.spec;
      const container = spec.containers[0] as Obj;
      const mounts = new Map((container.volumeMounts as Obj[]).map((m) => [m.name as string, m.mountPath as string]));
      for (const variable of variables) {
        const file = envOf(container, variable);
        assert.ok(file, `${name}: ${variable}`);
        const volume = (spec.volumes as Obj[]).find((v) => file.startsWith(`${mounts.get(v.name)}/`));
        assert.ok(volume?.secret?.secretName, `${name}: ${variable} is a file of a mounted Secret`);
        assert.notEqual(volume.secret.optional, true, `${name}: the Secret is required`);
        seen.set(`${name} ${variable}`, volume.secret.secretName);
      }
      assert.equal(spec.securityContext.fsGroup, 1000, `${name}: uid 1000 can read the 0440 files`);
      assert.match(envOf(container, "NATS_INBOX_PREFIX") ?? "", /^_INBOX_/, `${name}: its own inbox prefix`);
    }
    return seen;
  }
  const tlsVariables = (docs: Obj[]) =>
    podSpecs(docs).flatMap((p) =>
      (((p.spec.containers as Obj[])[0]!.env as Obj[] | undefined) ?? [])
        .filter((e) => /^NATS_TLS_/.test(e.name))
        .map((e) => e.name),
    );

  test("while 1.0 runs beside: an NKey per component from its own required Secret, nats://, no TLS settings", () => {
    // nats-server 2.9 cannot make TLS optional, and a client given TLS settings refuses a server without it.
    assert.match(find(all, "ConfigMap", "event-bus-config")!.data.NATS_URL, /^nats:\/\//);
    const seen = natsFiles(all, ["NATS_NKEY_SEED_FILE"]);
    assert.deepEqual(tlsVariables(all), []);
    assert.equal(
      new Set(seen.values()).size,
      3,
      "ingest, normalize and ops each have their own seed (the topology Job and aa-ops share ops')",
    );
  });

  test("after the runbook's Deployment Step 4: tls:// and a client certificate from the same Secrets", async () => {
    // The step's edits, on a copy: components/nats-tls in both overlays, the URL to tls://.
    const copy = await mkdtemp(join(tmpdir(), "aa-k8s-"));
    try {
      await cp(join(ROOT, "deploy/k8s"), copy, { recursive: true });
      for (const [dir, component] of [
        ["overlays/production", "../../components/nats-tls"],
        ["overlays/production/ops", "../../../components/nats-tls"],
      ] as const) {
        const file = join(copy, dir, "kustomization.yaml");
        const kustomization = parse(await readFile(file, "utf8")) as Obj;
        kustomization.components = [...(kustomization.components as string[]), component];
        await writeFile(file, JSON.stringify(kustomization));
      }
      const config = join(copy, "overlays/production/event-bus-config.yaml");
      await writeFile(config, (await readFile(config, "utf8")).replace(/^( {2}NATS_URL: )nats:\/\//m, "$1tls://"));
      const docs = [
        ...(await kustomize("production", join(copy, "overlays"))),
        ...(await kustomize("production/ops", join(copy, "overlays"))),
      ];
      assert.match(find(docs, "ConfigMap", "event-bus-config")!.data.NATS_URL, /^tls:\/\//);
      const seen = natsFiles(docs, [
        "NATS_NKEY_SEED_FILE",
        "NATS_TLS_CA_FILE",
        "NATS_TLS_CERT_FILE",
        "NATS_TLS_KEY_FILE",
      ]);
      for (const [kind, name] of NATS_WORKLOADS)
        assert.equal(
          seen.get(`${name} NATS_TLS_CERT_FILE`),
          seen.get(`${name} NATS_NKEY_SEED_FILE`),
          `${kind}/${name}: its certificate comes from its NKey's Secret`,
        );
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  test("every pod runs without a service account token; the Jobs can be run again with a new image (delete, then apply)", async () => {
    const docs = all;
    for (const { owner, spec } of podSpecs(docs)) assert.equal(spec.automountServiceAccountToken, false, owner);
    const runbook = await readFile(join(ROOT, "docs/phase-3/ops/PHASE_B_RUNBOOK.md"), "utf8");
    for (const job of ["normalize-migrate", "event-bus-topology"]) {
      const applied = runbook.indexOf(`-l app=${job}`);
      assert.ok(applied > 0, `the runbook applies ${job}`);
      const deleted = runbook.lastIndexOf(`kubectl delete job ${job}`, applied);
      assert.ok(
        deleted >= 0 && deleted < applied,
        `the runbook deletes job ${job} before applying it (its pod template is immutable)`,
      );
      // job_wait (the runbook's Settings) returns on Failed too: test/runbook-gates.test.ts.
      assert.ok(runbook.includes(`\njob_wait ${job} `), `a Job gate on ${job}`);
    }
  });
});

describe("Dockerfile (deploy/docker)", () => {
  test("the ops image carries the runbook's scripts (create-streams.js, create-consumers.js) and aa-ops on the PATH", async () => {
    const text = await readFile(DOCKERFILE, "utf8");
    const ops = text.slice(text.indexOf("FROM runtime AS ops"));
    assert.match(ops, /^COPY docs\/phase-3\/ops\/package\.json docs\/phase-3\/ops\/\*\.js docs\/phase-3\/ops\/$/m);
    assert.match(ops, /^ENV PATH=\/app\/node_modules\/\.bin:\$PATH$/m);
    const ignore = (await readFile(`${DOCKERFILE}.dockerignore`, "utf8")).split("\n");
    assert.ok(ignore.indexOf("!docs/phase-3/ops/*.js") > ignore.indexOf("docs"), "re-included after docs/ is excluded");
    assert.ok(ignore.includes("!docs/phase-3/ops/package.json"), "package.json: the scripts are ES modules");
    const runbook = await readFile(join(ROOT, "docs/phase-3/ops/PHASE_B_RUNBOOK.md"), "utf8");
    for (const [, script] of runbook.matchAll(/node docs\/phase-3\/ops\/([\w-]+\.js)/g))
      await access(join(ROOT, "docs/phase-3/ops", script!));
  });

  test("multi-stage: npm ci, build, prune; non-root runtime; one target per image the manifests use", async () => {
    const text = await readFile(DOCKERFILE, "utf8");
    assert.match(text, /RUN npm ci\b/);
    assert.match(text, /npm run build/);
    assert.match(text, /npm prune --omit=dev/);
    assert.match(text, /FROM \$\{NODE_IMAGE\} AS runtime[\s\S]*USER node/);
    const targets = new Map([...text.matchAll(/--target (\w+)\s+-t ([\w/-]+)/g)].map((m) => [m[2]!, m[1]!]));
    const images = podSpecs(await loadBase()).flatMap(({ spec }) =>
      (spec.containers as Obj[]).map((c) => String(c.image).split(":")[0]!),
    );
    for (const image of images) {
      const target = targets.get(image);
      assert.ok(target, `no build line for ${image}`);
      assert.match(text, new RegExp(`FROM runtime AS ${target}\\b`));
    }
    for (const [, entry] of text.matchAll(/"node", "([^"]+)"/g)) await access(join(ROOT, entry!));
    // npm ci fails when a workspace of the lockfile is missing.
    const { workspaces } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { workspaces: string[] };
    for (const ws of workspaces)
      assert.ok(text.includes(`COPY ${ws}/package.json ${ws}/\n`), `Dockerfile: COPY ${ws}/package.json`);
  });
});
