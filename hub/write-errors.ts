// What a failed API write means for the reconcile: the API server refused it (admission, quota,
// validation, RBAC: retrying the same write gives the same answer, the user must act) or it did not
// get through (a 5xx, a timeout, a lost connection: retry with backoff).
import { ApiError } from "../shared/kube/raw.ts";

export interface WriteFailure {
  /** True when the server answered with a refusal that the same write would get again. */
  refused: boolean;
  /** The server's own message, or the transport error's. */
  message: string;
}

/** 4xx answers other than 408 (timeout), 409 (conflict) and 429 (throttled) are refusals. */
export function classifyWriteError(err: unknown): WriteFailure {
  if (err instanceof ApiError) {
    const refused = err.code >= 400 && err.code < 500 && err.code !== 408 && err.code !== 409 && err.code !== 429;
    return { refused, message: err.message };
  }
  return { refused: false, message: err instanceof Error ? err.message : String(err) };
}
