// Benchmark: 10,000 digest look-ups over 200 distinct references against a
// local distribution registry, through the hub's shared DigestCache.
// Expected: exactly 200 manifest requests per refresh interval.
// Run: node bench/registry-digest-cache.ts

import { performance } from "node:perf_hooks";
import { RegistryClient } from "../shared/registry/client.ts";
import { DigestCache } from "../shared/registry/digest-cache.ts";
import { buildLayer, pushImage } from "../shared/registry/push.ts";
import { startRegistry } from "../shared/registry/testing/registry-server.ts";

const DISTINCT = 200;
const LOOKUPS = 10_000;
const REPOS = 20;
/** Look-ups in flight at once, like many MCM reconciles asking together. */
const CONCURRENCY = 500;

async function main(): Promise<void> {
  const registry = await startRegistry();
  const client = new RegistryClient({ maxConcurrentPerRegistry: 8 });
  const opts = { tls: { insecure: true } };
  try {
    const refs: string[] = [];
    const expected = new Map<string, string>();
    const layer = buildLayer([{ path: "lib/modules/kmm_bench.ko", content: "bench" }]);
    for (let i = 0; i < DISTINCT; i++) {
      const ref = `${registry.host}/bench/driver-${i % REPOS}:kernel-${Math.floor(i / REPOS)}`;
      const pushed = await pushImage(client, ref, { layers: [layer], annotations: { "kmm.bench/index": String(i) } }, opts);
      refs.push(ref);
      expected.set(ref, pushed.digest);
    }

    let now = 0;
    const cache = new DigestCache({ client, refreshIntervalMs: 60_000, now: () => now });
    const manifestRequests = async () =>
      (await registry.countRequests({ pathPrefix: "/v2/bench/", method: "HEAD" })) +
      (await registry.countRequests({ pathPrefix: "/v2/bench/", method: "GET" }));

    const round = async (label: string) => {
      const logBefore = await manifestRequests();
      const clientBefore = client.transport.counters.total;
      const started = performance.now();
      let mismatches = 0;
      for (let done = 0; done < LOOKUPS; done += CONCURRENCY) {
        const batch = Array.from({ length: Math.min(CONCURRENCY, LOOKUPS - done) }, (_, k) => {
          // A deterministic shuffle so every reference is hit 50 times, in mixed order.
          const ref = refs[((done + k) * 7919) % DISTINCT] ?? "";
          return cache.resolve(ref, opts).then((d) => {
            if (d !== expected.get(ref)) mismatches++;
          });
        });
        await Promise.all(batch);
      }
      const ms = performance.now() - started;
      const fromLog = (await manifestRequests()) - logBefore;
      const fromClient = client.transport.counters.total - clientBefore;
      console.log(
        `${label}: ${LOOKUPS} look-ups over ${DISTINCT} references in ${ms.toFixed(1)} ms ` +
          `(${((LOOKUPS / ms) * 1000).toFixed(0)} look-ups/s); registry manifest requests: ${fromLog} (access log), ` +
          `client requests: ${fromClient}; wrong digests: ${mismatches}`,
      );
      return { fromLog, fromClient, mismatches };
    };

    const cold = await round("refresh 1 (cold cache)");
    const warm = await round("same interval (warm cache)");
    now += 60_000;
    const refreshed = await round("refresh 2 (interval elapsed)");
    console.log(`client requests overall: ${client.transport.counters.total} (includes pushes and the /v2/ ping), retries: ${client.transport.counters.retries}, peak concurrency: ${client.transport.peak(registry.host)}`);
    const ok =
      cold.fromLog === DISTINCT && warm.fromLog === 0 && refreshed.fromLog === DISTINCT && cold.mismatches + warm.mismatches + refreshed.mismatches === 0;
    console.log(ok ? `OK: exactly ${DISTINCT} registry requests per refresh` : "FAILED: request count differs from one per distinct reference per refresh");
    if (!ok) process.exitCode = 1;
  } finally {
    client.close();
    await registry.stop();
  }
}

await main();
