// The runtime floor of the memory figures (issue 16): a Node process with no KMM-Hub code that does
// what every operator process does from its first second — keeps four TLS watches open on an API
// server (client-certificate auth, as the fleet's kubeconfig gives it) and serves HTTP (its
// metrics and probes). The benchmarks run it with the operator's own node flags and environment
// and report its RSS next to the operator's: what no change to KMM-Hub's code can go below.
// Only node built-ins, on purpose. Usage: node [flags] bench/lib/runtime-floor.ts KUBECONFIG.json
// Prints "ready" once every watch has its response headers and the HTTP server listens.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { Agent, get } from "node:https";

interface Kubeconfig {
  clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
  users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
}

const file = process.argv[2];
if (file === undefined) {
  console.error("usage: node bench/lib/runtime-floor.ts KUBECONFIG.json (a fleet's admin kubeconfig)");
  process.exit(2);
}
const kc = JSON.parse(readFileSync(file, "utf8")) as Kubeconfig;
const cluster = kc.clusters[0]?.cluster;
const user = kc.users[0]?.user;
if (cluster === undefined || user === undefined) {
  console.error(`${file}: no cluster or user with client-certificate data (a fleet's admin kubeconfig has both)`);
  process.exit(2);
}
const b64 = (s: string): Buffer => Buffer.from(s, "base64");
const server = new URL(cluster.server);
const agent = new Agent({ keepAlive: true, ca: b64(cluster["certificate-authority-data"]), cert: b64(user["client-certificate-data"]), key: b64(user["client-key-data"]) });
const paths = ["/api/v1/namespaces", "/api/v1/configmaps", "/api/v1/secrets", "/api/v1/events"];
let waiting = paths.length + 1;
const oneReady = (): void => {
  if (--waiting === 0) console.log("ready");
};
for (const p of paths) {
  get({ host: server.hostname, port: server.port, path: `${p}?watch=true`, agent }, (res) => {
    if (res.statusCode !== 200) {
      console.error(`watch ${p}: HTTP ${res.statusCode}`);
      process.exit(1);
    }
    res.on("data", () => undefined);
    oneReady();
  }).on("error", (err) => {
    console.error(`watch ${p}: ${err.message}`);
    process.exit(1);
  });
}
createServer((_req, res) => res.end("ok\n")).listen(0, "127.0.0.1", oneReady);
