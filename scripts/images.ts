// npm run images -- --registry HOST[:PORT]/PREFIX [--tls-verify=false] [--cert-dir DIR] [--authfile FILE]
//                   [--push] [--manifests DIR [--build-image KANIKO@sha256:…]] [--refresh-base] [--no-cache]
// Builds the hub, spoke, worker and signer images with buildah (images/build.ts), pushes them with
// --push, and prints each image reference pinned by digest. --manifests DIR also writes the hub's
// and the spokes' install manifests with those references (images/manifests.ts); --build-image
// adds the kaniko image of build Jobs (RELATED_IMAGE_BUILD) to the hub's.
import { pathToFileURL } from "node:url";
import { parseCommandLine, runCommandLine, UsageError } from "../shared/runtime/cli-args.ts";
import { guardOutput } from "../shared/runtime/exit.ts";
import { IMAGE_NAMES, buildImages, buildOptionsSchema } from "../images/build.ts";
import { writeManifests } from "../images/manifests.ts";

const USAGE =
  "usage: npm run images -- --registry HOST[:PORT]/PREFIX [--tls-verify=false] [--cert-dir DIR] [--authfile FILE] [--push] [--manifests DIR [--build-image KANIKO@sha256:…]] [--refresh-base] [--no-cache]";

/** The options of a command line, checked. Throws UsageError naming the flag. */
export function parseImagesArgs(argv: readonly string[]) {
  const { values } = parseCommandLine({
    args: [...argv],
    options: {
      registry: { type: "string" },
      "tls-verify": { type: "string", default: "true" },
      push: { type: "boolean", default: false },
      manifests: { type: "string" },
      "build-image": { type: "string" },
      "cert-dir": { type: "string" },
      authfile: { type: "string" },
      "refresh-base": { type: "boolean", default: false },
      "no-cache": { type: "boolean", default: false },
      // --help is answered before parsing (runCommandLine): declared so that it is no unknown option.
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.registry === undefined) throw new UsageError("--registry is required");
  const registry = buildOptionsSchema.shape.registry.safeParse(values.registry);
  if (!registry.success) throw new UsageError(`--registry ${values.registry}: ${registry.error.issues.map((i) => i.message).join("; ")}`);
  if (values["tls-verify"] !== "true" && values["tls-verify"] !== "false") throw new UsageError("--tls-verify must be true or false");
  if (values.manifests !== undefined && !values.push) throw new UsageError("--manifests needs --push: the manifests name images by their registry digest");
  if (values["build-image"] !== undefined && values.manifests === undefined) throw new UsageError("--build-image goes into the manifests: give --manifests DIR too");
  return { ...values, registry: registry.data, tlsVerify: values["tls-verify"] === "true" };
}

export async function main(argv: string[]): Promise<number> {
  const values = parseImagesArgs(argv);
  const tlsVerify = values.tlsVerify;
  const started = Date.now();
  const result = await buildImages({
    registry: values.registry,
    tlsVerify,
    push: values.push,
    refreshBase: values["refresh-base"],
    noCache: values["no-cache"],
    ...(values["cert-dir"] !== undefined ? { certDir: values["cert-dir"] } : {}),
    ...(values.authfile !== undefined ? { authFile: values.authfile } : {}),
    log: (line) => console.error(line),
  });
  console.error(`${result.built ? "built" : "up to date"}${result.pushed ? " and pushed" : ""} in ${((Date.now() - started) / 1000).toFixed(1)} s (revision ${result.revision})`);
  for (const name of IMAGE_NAMES) console.log(`${name.padEnd(7)} ${result.images[name].ref}${result.pushed ? "" : "   (local, not pushed)"}`);
  if (values.manifests !== undefined) {
    const build = values["build-image"];
    for (const f of await writeManifests(values.manifests, result.images, build !== undefined ? { buildImage: build } : {})) console.error(`wrote ${f}`);
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  guardOutput("images");
  const argv = process.argv.slice(2);
  await runCommandLine({ name: "images", usage: USAGE, helpCommand: "npm run images -- --help" }, argv, () => main(argv));
}
