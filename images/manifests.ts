// The install manifests with the images of a build, pinned by digest: the hub's (hub/deploy/rbac.yaml
// and deployment.yaml: the manager's image, RELATED_IMAGE_SIGN and, when given, RELATED_IMAGE_BUILD)
// and the spokes' Policy (scripts/gen-policy.ts: the spoke image and RELATED_IMAGE_WORKER). The
// committed files name the images by bare names only; a cluster gets the output of this.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { isMap, isSeq, type Document } from "yaml";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { PINNED_IMAGE, renderPolicy } from "../scripts/gen-policy.ts";
import { ROOT, type BuiltImages } from "./build.ts";

export class ManifestError extends Error {
  override readonly name = "ManifestError";
}

/** The images a hub install names: its own, the signer's (RELATED_IMAGE_SIGN), kaniko's (RELATED_IMAGE_BUILD, optional). */
export interface HubImages {
  hub: string;
  signer: string;
  build?: string;
}

function requirePinned(what: string, ref: string): void {
  if (!PINNED_IMAGE.test(ref)) throw new ManifestError(`${what} ${ref} is not pinned by digest (REPO@sha256:<64 hex>)`);
}

/** Sets env `name` of the container at `path` to `value`, adding it when absent. */
function setEnv(doc: Document, containerPath: (string | number)[], name: string, value: string): void {
  const env = doc.getIn([...containerPath, "env"]);
  if (!isSeq(env)) {
    doc.setIn([...containerPath, "env"], doc.createNode([{ name, value }]));
    return;
  }
  const index = env.items.findIndex((item) => isMap(item) && item.get("name") === name);
  if (index >= 0) doc.setIn([...containerPath, "env", index, "value"], value);
  else env.add(doc.createNode({ name, value }));
}

/**
 * What one `kubectl apply --server-side -f kmm-hub.yaml` installs on a hub, in the order it can be
 * created: the namespace, the ManagedClusterModule CRD, the RBAC, then config, Deployment and Service.
 */
export const HUB_INSTALL_FILES = ["hub/deploy/namespace.yaml", "crds/hub.kmm.sigs.x-k8s.io_managedclustermodules.yaml", "hub/deploy/rbac.yaml", "hub/deploy/deployment.yaml"] as const;

/**
 * HUB_INSTALL_FILES with the manager container's image, RELATED_IMAGE_SIGN and (when `build` is
 * given) RELATED_IMAGE_BUILD set. Throws ManifestError when an image is not pinned by digest or the
 * files do not hold exactly one Deployment kmm-hub.
 */
export async function hubManifests(images: HubImages, root = ROOT): Promise<string> {
  requirePinned("hub image", images.hub);
  requirePinned("signer image", images.signer);
  if (images.build !== undefined) requirePinned("build (kaniko) image", images.build);
  const out: string[] = [];
  let replaced = 0;
  for (const file of HUB_INSTALL_FILES) {
    for (const doc of parseKubeDocuments(await readFile(path.join(root, file), "utf8"))) {
      if (doc.errors.length > 0) throw new ManifestError(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue;
      if (doc.getIn(["kind"]) === "Deployment" && doc.getIn(["metadata", "name"]) === "kmm-hub") {
        const manager = ["spec", "template", "spec", "containers", 0];
        doc.setIn([...manager, "image"], images.hub);
        setEnv(doc, manager, "RELATED_IMAGE_SIGN", images.signer);
        if (images.build !== undefined) setEnv(doc, manager, "RELATED_IMAGE_BUILD", images.build);
        replaced++;
      }
      out.push(doc.toString({ lineWidth: 0 }));
    }
  }
  if (replaced !== 1) throw new ManifestError(`hub/deploy/deployment.yaml: expected one Deployment kmm-hub, found ${replaced}`);
  return out.join("---\n");
}

/** Every `image:` value and RELATED_IMAGE_* env value in a multi-document YAML text. */
export function imageReferences(text: string): string[] {
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (typeof o.image === "string") found.push(o.image);
      if (typeof o.name === "string" && o.name.startsWith("RELATED_IMAGE_") && typeof o.value === "string") found.push(o.value);
      Object.values(o).forEach(walk);
    }
  };
  for (const doc of parseKubeDocuments(text)) walk(doc.toJS());
  return found;
}

/**
 * Writes `<dir>/kmm-hub.yaml` (hub RBAC and Deployment) and `<dir>/install-kmm-spoke.yaml` (the
 * spoke Policy) naming the built images by digest (and kaniko's, `buildImage`, when given); returns
 * the files written. Throws ManifestError when any image in them is not pinned by digest.
 */
export async function writeManifests(dir: string, images: BuiltImages, opts: { buildImage?: string } = {}): Promise<string[]> {
  for (const [name, img] of Object.entries(images)) requirePinned(`${name} image`, img.ref);
  const hubText = await hubManifests({ hub: images.hub.ref, signer: images.signer.ref, ...(opts.buildImage !== undefined ? { build: opts.buildImage } : {}) });
  const policyText = renderPolicy(images.spoke.ref, images.worker.ref);
  for (const [file, text] of [["kmm-hub.yaml", hubText], ["install-kmm-spoke.yaml", policyText]] as const) {
    for (const ref of imageReferences(text)) requirePinned(`${file}: image`, ref);
  }
  await mkdir(dir, { recursive: true });
  const hub = path.join(dir, "kmm-hub.yaml");
  await writeFile(hub, `# GENERATED by npm run images -- --manifests: hub/deploy with ${images.hub.ref}\n${hubText}`);
  const policy = path.join(dir, "install-kmm-spoke.yaml");
  await writeFile(policy, policyText);
  return [hub, policy];
}
