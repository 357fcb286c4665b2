// What a failed API write means for the reconcile: the API server refused it (admission, quota,
// validation, RBAC: retrying the same write gives the same answer, the user must act) or it did not
// get through (a 5xx, a timeout, a lost connection: retry with backoff).
import { z } from "zod";
import { ApiError } from "../shared/kube/raw.ts";

const statusMessage = z.looseObject({ message: z.string().min(1) });
/** An admission webhook's message can be long; status and Events keep this much. */
const MAX_MESSAGE = 600;

function cut(s: string): string {
  return s.length <= MAX_MESSAGE ? s : `${s.slice(0, MAX_MESSAGE - 1)}…`;
}

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
    // The server's own Status message (the user's to read), without our request line.
    const own = statusMessage.safeParse(err.body);
    return { refused, message: own.success ? cut(own.data.message) : err.message };
  }
  return { refused: false, message: err instanceof Error ? err.message : String(err) };
}
