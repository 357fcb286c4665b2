// The shipped deploy/*.yaml files, applied to a cluster of the fleet as a user would apply them.
import { readFile } from "node:fs/promises";
import { parseAllDocuments } from "yaml";
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

/** Every object of a multi-document YAML file (empty documents skipped). */
export async function readManifests(file: URL): Promise<ManifestObject[]> {
  const out: ManifestObject[] = [];
  for (const [i, doc] of parseAllDocuments(await readFile(file, "utf8")).entries()) {
    if (doc.errors.length > 0) throw new ManifestFileError(`${file.pathname} document ${i + 1}: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const parsed = manifestObject.safeParse(value);
    if (!parsed.success) throw new ManifestFileError(`${file.pathname} document ${i + 1} is not a Kubernetes object: ${parsed.error.message}`);
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
