// Standard metav1.Condition, from the Kubernetes OpenAPI document, and the list shape
// every status here uses (one entry per type, merged by type under server-side apply).
import { z } from "zod";
import { conditionSchema, type Condition } from "../k8s/core.generated.ts";

export { conditionSchema, type Condition } from "../k8s/core.generated.ts";

export const MAX_CONDITIONS = 32;

export const conditionsSchema = z
  .array(conditionSchema)
  .max(MAX_CONDITIONS)
  .meta({
    description: "Standard conditions, one per type.",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
  });

/** metav1.Time as the API server stores it: RFC 3339 in whole seconds. */
export function metaTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The condition to write: `lastTransitionTime` is kept from the previous condition of the same type
 * when the status did not change, so re-reporting the same state is not a change.
 */
export function nextCondition(
  previous: readonly Condition[] | undefined,
  c: Omit<Condition, "lastTransitionTime" | "observedGeneration">,
  now: Date | string,
  observedGeneration: number | undefined,
): Condition {
  const old = previous?.find((p) => p.type === c.type);
  const lastTransitionTime = old !== undefined && old.status === c.status ? old.lastTransitionTime : typeof now === "string" ? now : metaTime(now);
  return { ...c, lastTransitionTime, ...(observedGeneration !== undefined ? { observedGeneration } : {}) };
}
