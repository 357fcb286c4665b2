// String-keyed maps (Kubernetes' map[string]T, OpenAPI additionalProperties) that never lose a key.
// zod drops a "__proto__" key from every record and loose object it parses (its guard against
// prototype pollution: the key cannot be assigned to the plain object it builds), so a map read
// with z.record silently lost that entry: a node selector {"__proto__": "x"} was admitted although
// Kubernetes refuses the key, and a CSI volume's volumeAttributes {"__proto__": …}, which Kubernetes
// stores, reached the spoke without it. These schemas refuse the key with an issue at its path
// instead: a clear error, not a lost entry. Where they go: maps that are validated as Kubernetes
// would (label maps) and maps whose entries we pass on (the Kubernetes types of a Module spec that
// reach the spoke, the CLI's digest map, the objects we write). Maps we only read named keys from
// (a pull Secret's data, a Dockerfile ConfigMap's data, a TokenReview's extra, OCI annotations)
// keep z.record: dropping the key loses nothing there, and refusing it would refuse what
// Kubernetes or a registry stores.
import { z } from "zod";

/** The one key a JavaScript object built by zod cannot hold as data. */
export const PROTO_KEY = "__proto__";

/** Whether a raw value (before parsing) is an object with an own, enumerable "__proto__" key. */
export function hasOwnProtoKey(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.prototype.propertyIsEnumerable.call(value, PROTO_KEY);
}

/**
 * `schema`, parsed after a check of the raw input that adds one issue at path ["__proto__"] (with
 * `messages`, or a generic one) when the input has that key. JSON Schema (the CRDs) comes from
 * `schema` alone: zod's toJSONSchema skips a preprocess step.
 */
export function refusingProtoKey<S extends z.ZodType>(schema: S, messages: readonly string[] = [`the key "${PROTO_KEY}" cannot be read: JavaScript objects cannot hold it as data`]) {
  return z.preprocess((input, ctx) => {
    if (hasOwnProtoKey(input)) for (const message of messages) ctx.addIssue({ code: "custom", message, path: [PROTO_KEY], input });
    return input;
  }, schema);
}

/** z.record(z.string(), value) that refuses a "__proto__" key instead of dropping it. */
export function stringMap<V extends z.ZodType>(value: V) {
  return refusingProtoKey(z.record(z.string(), value));
}
