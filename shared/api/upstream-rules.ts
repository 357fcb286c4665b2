// What the controllers do with a stored spec that breaks a rule the API server does not enforce
// (upstreamRuleProblems): one condition and one message, the same on the hub (MCM) and the spoke
// (Module), reported before any write so that nothing is built from a spec upstream would refuse.
import type { FieldProblem } from "./module.ts";

/** Condition type: False while the spec breaks a rule that only the controllers check. */
export const CONDITION_SPEC_VALID = "SpecValid";
/** Reason of that condition and of its Warning Event. */
export const INVALID_SPEC_REASON = "InvalidSpec";

/**
 * The problems as one message naming each field from the object's root, e.g.
 * `spec.moduleSpec.moduleLoader.container.kernelMappings[0]: …` for an MCM (`prefix` = "spec.moduleSpec.").
 */
export function specProblemsMessage(problems: readonly FieldProblem[], prefix: "spec." | "spec.moduleSpec."): string {
  return `the spec breaks rules the API server does not enforce, so nothing is written for it: ${problems.map((p) => `${prefix}${p.field}: ${p.message}`).join("; ")}`;
}

/** The condition for a spec with problems (lastTransitionTime and observedGeneration are the caller's). */
export function specInvalidCondition(problems: readonly FieldProblem[], prefix: "spec." | "spec.moduleSpec."): { type: string; status: "False"; reason: string; message: string } {
  return { type: CONDITION_SPEC_VALID, status: "False", reason: INVALID_SPEC_REASON, message: specProblemsMessage(problems, prefix) };
}
