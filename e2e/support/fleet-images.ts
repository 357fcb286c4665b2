// The product's four images (hub, spoke, worker, signer) in the fleet's registry, pinned by digest,
// for the suites that run them on real nodes. Built with images/build.ts (its build record lets the
// images project's setup and this one share one build in `npm test`), pushed with buildah's
// --cert-dir and --creds: the fleet's registry has its own CA and an htpasswd user.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { buildah } from "../../images/buildah.ts";
import { buildImages, IMAGE_NAMES, type BuildResult, type ImageName } from "../../images/build.ts";
import { cacheDir } from "../controlplane/binaries.ts";
import type { FleetRegistry } from "../fleet-types.ts";

/** Repository prefix of the product's images in the fleet's registry: `<host>/kmm-hub/<image>`. */
export const FLEET_IMAGE_PREFIX = "kmm-hub";

/** What the e2e setup hands to tests (`inject("productImages")`). */
export interface FleetImages {
  /** `<host>/kmm-hub/<name>@sha256:…` as the fleet's registry reports the pushed manifest */
  refs: Record<ImageName, string>;
  /** `<host>/kmm-hub/<name>:<version>-<commit>` */
  tagged: Record<ImageName, string>;
  /** wall time of buildImages (seconds; near 0 when its record was reused) */
  buildSeconds: number;
  /** wall time of the four pushes (seconds) */
  pushSeconds: number;
  /** whether buildah ran for this process (false: an earlier build with the same inputs was reused) */
  built: boolean;
}

declare module "vitest" {
  export interface ProvidedContext {
    productImages: FleetImages;
  }
}

export class FleetImagePushError extends Error {
  override readonly name = "FleetImagePushError";
}

let building: Promise<{ result: BuildResult; seconds: number }> | undefined;

/** Name of the local build (`localhost/kmm-hub/...`), replaced by the fleet registry's host on push. */
const LOCAL_PREFIX = `localhost/${FLEET_IMAGE_PREFIX}`;

/**
 * Builds the four images once per process (later calls share the first build); needs no registry,
 * so it can run while the fleet starts. Throws ImageBuildError / BuildahError from images/build.ts.
 */
export function buildFleetImages(log: (line: string) => void = () => undefined): Promise<{ result: BuildResult; seconds: number }> {
  building ??= (async () => {
    const started = Date.now();
    const result = await buildImages({ registry: LOCAL_PREFIX, push: false, log });
    return { result, seconds: (Date.now() - started) / 1000 };
  })();
  return building;
}

const digestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, "a sha256 digest");

/**
 * Pushes the four images to the fleet's registry (TLS with its CA, its user's credentials) and
 * resolves with their pinned references. Throws FleetImagePushError naming the image and buildah's words.
 */
export async function pushFleetImages(registry: FleetRegistry, log: (line: string) => void = () => undefined): Promise<FleetImages> {
  const { result, seconds } = await buildFleetImages(log);
  const started = Date.now();
  const dir = await mkdtemp(join(cacheDir, "fleet-image-push-"));
  try {
    const refs = {} as Record<ImageName, string>;
    const tagged = {} as Record<ImageName, string>;
    await Promise.all(
      IMAGE_NAMES.map(async (name) => {
        const img = result.images[name];
        const target = `${registry.host}/${img.tagged.slice("localhost/".length)}`;
        const digestFile = join(dir, `${name}.digest`);
        try {
          // Uncompressed layers: the registry is on loopback, and gzip of four Node runtimes took
          // most of two minutes on two busy cores.
          await buildah(result.storage, ["push", "--quiet", "--disable-compression", "--cert-dir", registry.certDir, "--creds", `${registry.username}:${registry.password}`, "--digestfile", digestFile, img.local, `docker://${target}`]);
        } catch (err) {
          // buildah's message never holds the --creds value (its args are not part of the message).
          throw new FleetImagePushError(`pushing ${name} (${img.local}) to ${target} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
        const digest = digestSchema.parse((await readFile(digestFile, "utf8")).trim());
        tagged[name] = target;
        refs[name] = `${target.slice(0, target.lastIndexOf(":"))}@${digest}`;
      }),
    );
    const pushSeconds = (Date.now() - started) / 1000;
    log(`pushed ${IMAGE_NAMES.join(", ")} to ${registry.host}/${FLEET_IMAGE_PREFIX} in ${pushSeconds.toFixed(1)} s (build ${result.built ? "ran" : "reused"}, ${seconds.toFixed(1)} s)`);
    return { refs, tagged, buildSeconds: seconds, pushSeconds, built: result.built };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
