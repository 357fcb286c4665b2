// The shipped deploy/*.yaml files, applied to a cluster of the fleet as a user would apply them.
import { readFile } from "node:fs/promises";
import { parseKubeDocuments } from "../../shared/yaml/read.ts";
import { z } from "zod";
import type { RawClient } from "../../shared/kube/raw.ts";

export class ManifestFileError extends Error {
  override readonly name = "ManifestFileError";
}

const manifestObject = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional() }),
});
export type ManifestObject = z.infer<typeof manifestObject>;
const podTemplated = manifestObject.extend({ spec: z.looseObject({ template: z.looseObject({ spec: z.looseObject({}) }) }) });

/**
 * A workload object (Deployment, DaemonSet, Job …) with its pod spec replaced by `edit(podSpec)`,
 * everything else as it was. Throws ZodError when `o` is no object with spec.template.spec.
 */
export function editPodSpec(o: unknown, edit: (podSpec: Record<string, unknown>) => Record<string, unknown>): ManifestObject {
  const w = podTemplated.parse(o);
  return { ...w, spec: { ...w.spec, template: { ...w.spec.template, spec: edit(w.spec.template.spec) } } };
}

/** Every object of a multi-document YAML file (empty documents skipped). */
export async function readManifests(file: URL): Promise<ManifestObject[]> {
  return parseManifests(await readFile(file, "utf8"), file.pathname);
}

/**
 * Every object of a multi-document YAML text (empty documents skipped, as kubectl does); `source`
 * names it in errors. Throws ManifestFileError for a YAML error or a document that is no object.
 */
export function parseManifests(text: string, source: string): ManifestObject[] {
  const out: ManifestObject[] = [];
  for (const [i, doc] of parseKubeDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new ManifestFileError(`${source} document ${i + 1}: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const parsed = manifestObject.safeParse(value);
    if (!parsed.success) throw new ManifestFileError(`${source} document ${i + 1} is not a Kubernetes object: ${parsed.error.message}`);
    out.push(parsed.data);
  }
  return out;
}

/**
 * Server-side apply of each object; with `dryRun` the API server runs defaulting, validation and
 * admission on them and stores nothing.
 */
export async function applyManifests(raw: RawClient, objects: ManifestObject[], opts: { fieldManager?: string; dryRun?: boolean } = {}): Promise<unknown[]> {
  const fieldManager = opts.fieldManager ?? "kmm-e2e";
  const stored: unknown[] = [];
  for (const obj of objects) {
    if (opts.dryRun === true) {
      const q = new URLSearchParams({ fieldManager, force: "true", dryRun: "All" });
      stored.push((await raw.request("PATCH", `${await raw.objectPath(obj)}?${q.toString()}`, obj, "application/apply-patch+yaml")).body);
    } else {
      stored.push(await raw.apply(obj, fieldManager));
    }
  }
  return stored;
}
