// One admission rule, two enforcers: the API server evaluates `rule` (CEL, through the
// CRD's x-kubernetes-validations) and zod evaluates `check`, with the same message, so a
// Module rejected by `kubectl apply` is also rejected by the hub's offline tools.
import { z } from "zod";

export interface AdmissionRule<T> {
  /** CEL expression over `self` (and `oldSelf` for transition rules). */
  rule: string;
  message: string;
  /**
   * CEL expression building the message from the value (e.g. to name the offending value, as
   * Kubernetes does); `message` is the API server's fallback when it fails.
   */
  messageExpression?: string;
  /** The same message in TypeScript, for zod; `message` when absent. */
  messageFor?: (value: T) => string;
  /** Path of the offending field relative to the object, for both CEL and zod. */
  fieldPath?: string;
  // FieldValueDuplicate is left out on purpose: the API server drops the message for it.
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired";
  /** The same rule in TypeScript; absent for transition rules, which need the stored object. */
  check?: (value: T) => boolean;
}

export interface CelValidation {
  rule: string;
  message: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export function celValidations<T>(rules: readonly AdmissionRule<T>[]): CelValidation[] {
  return rules.map((r) => ({
    rule: r.rule,
    message: r.message,
    ...(r.messageExpression === undefined ? {} : { messageExpression: r.messageExpression }),
    ...(r.fieldPath === undefined ? {} : { fieldPath: r.fieldPath }),
    ...(r.reason === undefined ? {} : { reason: r.reason }),
  }));
}

function issuePath(fieldPath: string | undefined): (string | number)[] {
  if (fieldPath === undefined) return [];
  return fieldPath
    .split(/[.[\]]/)
    .filter((p) => p !== "")
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** Attaches the rules to an object schema: as CEL for the CRD and as a refinement for zod. */
export function withRules<S extends z.ZodType>(schema: S, rules: readonly AdmissionRule<z.output<S>>[]): S {
  return schema.meta({ "x-kubernetes-validations": celValidations(rules) }).superRefine((value, ctx) => {
    for (const r of rules) {
      if (r.check !== undefined && !r.check(value)) {
        ctx.addIssue({ code: "custom", message: r.messageFor?.(value) ?? r.message, path: issuePath(r.fieldPath) });
      }
    }
  });
}

/** Upstream's Go clients serialize unset strings as "", so "" counts as absent. */
export function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== "";
}

/** CEL twin of isSet for an optional string field, e.g. celIsSet("self.literal"). */
export function celIsSet(path: string): string {
  return `(has(${path}) && ${path} != '')`;
}
