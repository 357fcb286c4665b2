// What upstream's `metrics.enableAuthnAuthz` and `metrics.secureServing` mean:
// the scraper's bearer token is checked with a TokenReview, its right to GET
// /metrics with a SubjectAccessReview (non-resource URL), and the endpoint is
// served over TLS — with a self-signed certificate when none is configured, as
// controller-runtime does.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import type { RawClient } from "../kube/raw.ts";
import type { Logger } from "./logger.ts";
import type { MetricsAuthorizer } from "./server.ts";

const tokenReviewStatus = z.object({
  status: z
    .object({
      authenticated: z.boolean().optional(),
      user: z
        .object({
          username: z.string().optional(),
          uid: z.string().optional(),
          groups: z.array(z.string()).optional(),
          extra: z.record(z.string(), z.array(z.string())).optional(),
        })
        .optional(),
    })
    .optional(),
});
const accessReviewStatus = z.object({ status: z.object({ allowed: z.boolean() }).optional() });

type Verdict = "allowed" | "unauthenticated" | "forbidden";

/** Checks scrapers against the API server; verdicts are cached briefly per token. */
export function kubeMetricsAuthorizer(raw: RawClient, logger: Logger, cacheTtlMs = 60_000): MetricsAuthorizer {
  const cache = new Map<string, { verdict: Verdict; until: number }>();
  return async (req: IncomingMessage) => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const token = m?.[1];
    if (token === undefined) return "unauthenticated";
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const key = `${path} ${token}`;
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.verdict;
    let verdict: Verdict;
    try {
      const review = tokenReviewStatus.parse(
        (await raw.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } })).body,
      );
      const user = review.status?.user;
      if (review.status?.authenticated !== true || !user) {
        verdict = "unauthenticated";
      } else {
        const sar = accessReviewStatus.parse(
          (
            await raw.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SubjectAccessReview",
              spec: {
                user: user.username,
                uid: user.uid,
                groups: user.groups,
                extra: user.extra,
                nonResourceAttributes: { path, verb: req.method === "HEAD" ? "head" : "get" },
              },
            })
          ).body,
        );
        verdict = sar.status?.allowed === true ? "allowed" : "forbidden";
      }
    } catch (err: unknown) {
      // Fail closed, and do not cache: the API server may be back on the next scrape.
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, "cannot review metrics scraper credentials");
      return "forbidden";
    }
    if (cache.size > 1000) cache.clear();
    cache.set(key, { verdict, until: Date.now() + cacheTtlMs });
    return verdict;
  };
}

export class CertificateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateError";
  }
}

/** A throw-away self-signed serving certificate (P-256), made with the openssl CLI. */
export async function selfSignedCertificate(commonName: string, hosts: string[] = ["localhost", "127.0.0.1"]): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), "kmm-metrics-tls-"));
  try {
    const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
    await promisify(execFile)("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-days", "365", "-subj", `/CN=${commonName}`, "-addext", `subjectAltName=${san}`,
      "-keyout", join(dir, "tls.key"), "-out", join(dir, "tls.crt"),
    ]);
    return { cert: await readFile(join(dir, "tls.crt"), "utf8"), key: await readFile(join(dir, "tls.key"), "utf8") };
  } catch (err: unknown) {
    throw new CertificateError(
      `cannot create a self-signed metrics certificate with openssl (${err instanceof Error ? err.message : String(err)}); install openssl or set metrics.certFile and metrics.keyFile`,
      { cause: err },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
