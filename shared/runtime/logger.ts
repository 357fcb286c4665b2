// JSON logs (pino) that never carry credentials. Redaction walks the whole log
// object by key name, because pino's path-based redaction cannot match a key at
// any depth (a pull secret can sit anywhere inside a logged object).
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const REDACTED = "[REDACTED]";

// Keys whose values are credentials wherever they appear. References to secrets
// (e.g. `imageRepoSecret: {name}`) are names, not secrets, and stay visible.
const secretKey =
  /^(auth|authorization|proxy-authorization|password|passwd|passphrase|secret|client[-_]?secret|[a-z_-]*token|api[-_]?key|private[-_]?key|[a-z-]*key-data|tls\.key|\.dockerconfigjson|\.dockercfg|cookie|set-cookie)$/i;
const bearer = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
const maxDepth = 12;

function isSecretObject(o: Record<string, unknown>): boolean {
  return o.kind === "Secret" && (o.apiVersion === "v1" || o.apiVersion === undefined);
}

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === "string") return value.replace(bearer, `$1 ${REDACTED}`);
  if (value === null || typeof value !== "object") return value;
  // Errors are left to pino's err serializer (it keeps message and stack).
  if (value instanceof Error || value instanceof Date) return value;
  if (seen.has(value)) return "[Circular]";
  if (depth >= maxDepth) return "[Truncated]";
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v: unknown) => redactValue(v, depth + 1, seen));
    const src = value as Record<string, unknown>;
    const secretObject = isSecretObject(src);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(src)) {
      if (secretKey.test(k)) out[k] = REDACTED;
      else if (secretObject && (k === "data" || k === "stringData") && v !== null && typeof v === "object")
        out[k] = Object.fromEntries(Object.keys(v).map((dk) => [dk, REDACTED]));
      else out[k] = redactValue(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** A copy of `obj` with credential-like fields replaced by "[REDACTED]". */
export function redact(obj: Record<string, unknown>): Record<string, unknown> {
  return redactValue(obj, 0, new WeakSet()) as Record<string, unknown>;
}

export interface LoggerOptions {
  /** component name, e.g. "kmm-hub" */
  name: string;
  level?: LevelWithSilent;
  /** where lines go; stdout when omitted */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const options = {
    name: opts.name,
    level: opts.level ?? "info",
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label: string) => ({ level: label }),
      bindings: (b: Record<string, unknown>) => redact(b),
      log: (o: Record<string, unknown>) => redact(o),
    },
    hooks: {
      // Messages are free text: scrub Authorization-style credentials there too.
      logMethod(this: Logger, args: Parameters<Logger["info"]>, method: (...a: Parameters<Logger["info"]>) => void) {
        method.apply(this, args.map((a) => (typeof a === "string" ? a.replace(bearer, `$1 ${REDACTED}`) : a)) as Parameters<Logger["info"]>);
      },
    },
  };
  const root = opts.destination ? pino(options, opts.destination) : pino(options);
  // pino applies formatters.bindings to the root only; children inherit this
  // override through their prototype chain, so every child's bindings are redacted.
  // Deliberately unbound: it is re-bound to whichever logger (root or child) is asked for a child.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const protoChild = root.child;
  root.child = function (this: Logger, bindings, childOptions) {
    return protoChild.call(this, redact(bindings), childOptions);
  } as typeof root.child;
  return root;
}

/** The convention for reconcilers: one child per controller, one per key being reconciled. */
export function controllerLogger(root: Logger, controller: string, key?: string): Logger {
  return key === undefined ? root.child({ controller }) : root.child({ controller, key });
}
