// Small client helpers for the fleet fixture and e2e suites. Production code gets a KubeConnection
// (connectionFrom); client-node's KubeConfig is for the tests' own typed clients only.
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { z } from "zod";
import { loadKubeconfigFile, type KubeConnection } from "../../shared/kube/connection.ts";
import { RawClient } from "../../shared/kube/raw.ts";
import { parseKubeDocuments } from "../../shared/yaml/read.ts";
import { sleep, waitFor } from "./procs.ts";

export function kubeConfigFrom(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** A connection for production code (RawClient, Informer, Manager, createHub/createSpoke), through our own loader. */
export function connectionFrom(kubeconfigPath: string): Promise<KubeConnection> {
  return loadKubeconfigFile(kubeconfigPath);
}

export async function readYamlObjects(file: string): Promise<KubernetesObject[]> {
  const docs = parseKubeDocuments(await readFile(file, "utf8"));
  const out: KubernetesObject[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    const v: unknown = d.toJS();
    if (v && typeof v === "object" && "kind" in v && "apiVersion" in v) out.push(v as KubernetesObject);
  }
  return out;
}

/** Server-side apply of each object, retrying while discovery has not caught up with new CRDs. */
export async function applyObjects(conn: KubeConnection, objects: KubernetesObject[], fieldManager = "kmm-e2e"): Promise<void> {
  const client = new RawClient(conn);
  for (const obj of objects) {
    let attempt = 0;
    await waitFor(
      `apply ${obj.kind} ${obj.metadata?.name ?? ""}`,
      async () => {
        // Discovery is cached per client: look again after a miss (new CRDs).
        if (attempt++ > 0) client.refreshDiscovery();
        await client.apply(obj, fieldManager);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  }
}

export async function applyFiles(conn: KubeConnection, files: string[]): Promise<void> {
  const objects = (await Promise.all(files.map(readYamlObjects))).flat();
  await applyObjects(conn, objects);
}

const crdStatusSchema = z.looseObject({
  status: z.looseObject({ conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional() }).optional(),
});

export async function waitForCrdsEstablished(conn: KubeConnection, names: string[], timeoutMs = 60_000): Promise<void> {
  const client = new RawClient(conn);
  try {
    for (const name of names) {
      await waitFor(`CRD ${name} established`, async () => {
        const crd = crdStatusSchema.parse((await client.request("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)).body);
        return (crd.status?.conditions ?? []).some((c) => c.type === "Established" && c.status === "True");
      }, { timeoutMs });
    }
  } finally {
    client.close();
  }
}

/** GET a path with client-certificate auth; resolves with the status code and body. */
export function httpsGet(
  url: string,
  tls: { ca: Buffer; cert?: Buffer; key?: Buffer; token?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (tls.token) headers.authorization = `Bearer ${tls.token}`;
    const req = request(url, { ca: tls.ca, cert: tls.cert, key: tls.key, headers, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout: ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

export { sleep };
