// The product's four images (hub, spoke, worker, signer) in the fleet's registry, pinned by digest,
// for the suites that run them on real nodes. Built with images/build.ts (its build record lets the
// images project's setup and this one share one build in `npm test`), pushed by buildImages with the
// fleet registry's CA folder and credentials: the registry has its own CA and an htpasswd user.
import { buildImages, IMAGE_NAMES, type BuildResult, type ImageName } from "../../images/build.ts";
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

let building: Promise<{ result: BuildResult; seconds: number }> | undefined;

/** The local build's own name; the push names the images under the fleet registry's host. */
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

/**
 * Pushes the four images to the fleet's registry with buildImages (its CA folder, its user's
 * credentials through a private auth file) and resolves with their pinned references. The build
 * itself is the one of buildFleetImages, found again through images/build.ts's build record.
 * Throws ImageBuildError / BuildahError from images/build.ts, naming the image and buildah's words.
 */
export async function pushFleetImages(registry: FleetRegistry, log: (line: string) => void = () => undefined): Promise<FleetImages> {
  const { result: local, seconds } = await buildFleetImages(log);
  const started = Date.now();
  const result = await buildImages({
    registry: `${registry.host}/${FLEET_IMAGE_PREFIX}`,
    push: true,
    // The commit the first build named: another commit in the meantime is no reason to build again.
    revision: local.revision,
    certDir: registry.certDir,
    creds: `${registry.username}:${registry.password}`,
    log,
  });
  const pushSeconds = (Date.now() - started) / 1000;
  // Sources edited since the first build are built again here (the record is keyed by them).
  if (result.built) log("the sources changed while the fleet started: built again before pushing");
  const refs = {} as Record<ImageName, string>;
  const tagged = {} as Record<ImageName, string>;
  for (const name of IMAGE_NAMES) {
    refs[name] = result.images[name].ref;
    tagged[name] = result.images[name].tagged;
  }
  log(`pushed ${IMAGE_NAMES.join(", ")} to ${registry.host}/${FLEET_IMAGE_PREFIX} in ${pushSeconds.toFixed(1)} s (build ${local.built ? "ran" : "reused"}, ${seconds.toFixed(1)} s)`);
  return { refs, tagged, buildSeconds: seconds, pushSeconds, built: local.built || result.built };
}
