// Small client helpers for the fleet fixture and e2e suites, on @kubernetes/client-node.
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { RawClient } from "../../shared/kube/raw.ts";
import { parseAllDocuments } from "yaml";
import { sleep, waitFor } from "./procs.ts";

export function kubeConfigFrom(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

export async function readYamlObjects(file: string): Promise<KubernetesObject[]> {
  const docs = parseAllDocuments(await readFile(file, "utf8"));
  const out: KubernetesObject[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    const v: unknown = d.toJS();
    if (v && typeof v === "object" && "kind" in v && "apiVersion" in v) out.push(v as KubernetesObject);
  }
  return out;
}

/** Server-side apply of each object, retrying while discovery has not caught up with new CRDs. */
export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[], fieldManager = "kmm-e2e"): Promise<void> {
  const client = new RawClient(kc);
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

export async function applyFiles(kc: KubeConfig, files: string[]): Promise<void> {
  const objects = (await Promise.all(files.map(readYamlObjects))).flat();
  await applyObjects(kc, objects);
}

export async function waitForCrdsEstablished(kc: KubeConfig, names: string[], timeoutMs = 60_000): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const name of names) {
    await waitFor(`CRD ${name} established`, async () => {
      const crd = await client.read({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name } });
      const conds = (crd as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
      return conds.some((c) => c.type === "Established" && c.status === "True");
    }, { timeoutMs });
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
