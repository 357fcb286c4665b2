// Small images for tests on real nodes, and the pull secret for the fleet's registry: a busybox
// image made from Debian's busybox-static (one 2 MB layer, pushed in well under a second).
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { buildLayer, Keychain, pushImage, RegistryClient, type Layer } from "../../../shared/registry/index.ts";
import type { FleetRegistry } from "../../fleet-types.ts";

const run = promisify(execFile);
const BUSYBOX = "/bin/busybox";

export class BusyboxMissingError extends Error {
  override readonly name = "BusyboxMissingError";
}

let layer: Promise<Layer> | undefined;

/** bin/busybox with a link per applet, /etc/passwd and /etc/group (root, nobody, a user 1000). */
function busyboxLayer(): Promise<Layer> {
  layer ??= (async () => {
    let binary: Buffer;
    try {
      binary = await readFile(BUSYBOX);
    } catch {
      throw new BusyboxMissingError(`${BUSYBOX} is missing: install Debian's busybox-static (listed in .ci/apt-packages.txt)`);
    }
    const applets = (await run(BUSYBOX, ["--list"])).stdout.split("\n").filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== "busybox");
    return buildLayer([
      { path: "bin", type: "directory", mode: 0o755 },
      { path: "bin/busybox", content: binary, mode: 0o755 },
      ...applets.map((a) => ({ path: `bin/${a}`, type: "symlink" as const, linkname: "busybox" })),
      { path: "etc", type: "directory", mode: 0o755 },
      { path: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\nkmm:x:1000:1000:kmm:/home/kmm:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", mode: 0o644 },
      { path: "etc/group", content: "root:x:0:\nkmm:x:1000:\nnogroup:x:65534:\n", mode: 0o644 },
      { path: "tmp", type: "directory", mode: 0o1777 },
      { path: "root", type: "directory", mode: 0o700 },
    ]);
  })();
  return layer;
}

/** A registry client that trusts the fleet registry's CA and logs in as its user. */
export async function fleetRegistryClient(r: FleetRegistry): Promise<RegistryClient> {
  const keychain = new Keychain();
  keychain.add(r.host, { username: r.username, password: r.password });
  return new RegistryClient({ caBundle: await readFile(r.caFile, "utf8"), keychain });
}

/**
 * Pushes the busybox image as `<registry>/<repository>:<tag>`, with an image config (Cmd, User,
 * Env …) of the caller's choosing and the caller's layers on top (a kmod image's modules, for
 * instance); resolves with the tag reference and the pinned reference.
 */
export async function pushBusybox(
  r: FleetRegistry,
  repository: string,
  tag = "latest",
  runConfig: Record<string, unknown> = {},
  extraLayers: readonly Layer[] = [],
): Promise<{ ref: string; pinned: string; digest: string }> {
  const client = await fleetRegistryClient(r);
  try {
    const ref = `${r.host}/${repository}:${tag}`;
    const pushed = await pushImage(client, ref, { layers: [await busyboxLayer(), ...extraLayers], runConfig: { Env: ["PATH=/bin"], Cmd: ["sh"], ...runConfig } });
    return { ref, pinned: `${r.host}/${repository}@${pushed.digest}`, digest: pushed.digest };
  } finally {
    client.close();
  }
}

/** A kubernetes.io/dockerconfigjson Secret holding the fleet registry's credentials. */
export function registryPullSecret(r: FleetRegistry, namespace: string, name = "fleet-registry") {
  const auth = Buffer.from(`${r.username}:${r.password}`).toString("base64");
  const config = JSON.stringify({ auths: { [r.host]: { username: r.username, password: r.password, auth } } });
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(config).toString("base64") },
  };
}
