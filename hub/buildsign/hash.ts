// The input hash of a Job: SHA-256 over a canonical JSON (object keys sorted at every depth, so
// the order fields were written in never matters) of everything that decides what the Job
// produces. Upstream KMM hashes the pod template with the Dockerfile (build) or the key data
// (sign); here secrets count by resourceVersion, so the hub never has to hash key bytes.
import { createHash } from "node:crypto";

/** JSON with object keys sorted at every depth; `undefined` fields are left out, as JSON does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const src = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(src).sort().map((k) => [k, src[k]]));
  });
}

/** Hex SHA-256 of the canonical JSON of `inputs`. */
export function inputHash(inputs: unknown): string {
  return createHash("sha256").update(canonicalJson(inputs)).digest("hex");
}
