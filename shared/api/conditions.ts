// Standard metav1.Condition, from the Kubernetes OpenAPI document, and the list shape
// every status here uses (one entry per type, merged by type under server-side apply).
import { z } from "zod";
import { conditionSchema } from "../k8s/core.generated.ts";

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
