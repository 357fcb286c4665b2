// Sizes of pushed images as a registry serves them: per image its compressed size (the blobs a
// node pulls) and uncompressed size (what it unpacks), and which layers the images share.
import { createGunzip } from "node:zlib";
import { RegistryClient } from "../shared/registry/index.ts";

export interface LayerSize {
  digest: string;
  compressed: number;
  uncompressed: number;
}

export interface ImageSizes {
  name: string;
  ref: string;
  layers: LayerSize[];
  compressed: number;
  uncompressed: number;
}

export interface SizeReport {
  images: ImageSizes[];
  /** Layers that more than one image holds, with the images holding them. */
  shared: { digest: string; uncompressed: number; images: string[] }[];
  distinct: { layers: number; compressed: number; uncompressed: number };
}

/** Reads the manifests of `refs` (name → REPO@sha256:…) and measures every distinct layer once. */
export async function measureImages(refs: Record<string, string>, opts: { insecure?: boolean } = {}): Promise<SizeReport> {
  const client = new RegistryClient();
  const tls = { tls: opts.insecure === true ? { insecure: true, insecureSkipTLSVerify: true } : {} };
  const measured = new Map<string, LayerSize>();
  const holders = new Map<string, string[]>();
  const images: ImageSizes[] = [];
  try {
    for (const [name, ref] of Object.entries(refs)) {
      const m = await client.getManifest(ref, tls);
      if (m.kind !== "image") throw new Error(`${ref} is an index`);
      const layers: LayerSize[] = [];
      for (const layer of m.manifest.layers) {
        let size = measured.get(layer.digest);
        if (size === undefined) {
          let uncompressed = 0;
          const blob = await client.openBlob(ref, layer, tls);
          for await (const chunk of blob.pipe(createGunzip())) uncompressed += (chunk as Buffer).length;
          size = { digest: layer.digest, compressed: layer.size, uncompressed };
          measured.set(layer.digest, size);
        }
        layers.push(size);
        holders.set(layer.digest, [...(holders.get(layer.digest) ?? []), name]);
      }
      images.push({ name, ref, layers, compressed: layers.reduce((n, l) => n + l.compressed, 0), uncompressed: layers.reduce((n, l) => n + l.uncompressed, 0) });
    }
  } finally {
    client.close();
  }
  const all = [...measured.values()];
  return {
    images,
    shared: [...holders.entries()].filter(([, h]) => h.length > 1).map(([digest, h]) => ({ digest, uncompressed: measured.get(digest)?.uncompressed ?? 0, images: h })),
    distinct: { layers: all.length, compressed: all.reduce((n, l) => n + l.compressed, 0), uncompressed: all.reduce((n, l) => n + l.uncompressed, 0) },
  };
}

const MB = 1_000_000;
export const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;

/** The report as a Markdown table plus the shared layers. */
export function formatSizes(r: SizeReport): string {
  const lines = ["| image | uncompressed | compressed | layers |", "|---|---|---|---|"];
  for (const i of r.images) lines.push(`| ${i.name} | ${mb(i.uncompressed)} | ${mb(i.compressed)} | ${i.layers.length} |`);
  lines.push(`| all four, distinct layers | ${mb(r.distinct.uncompressed)} | ${mb(r.distinct.compressed)} | ${r.distinct.layers} |`);
  lines.push("", "shared layers:");
  for (const s of r.shared) lines.push(`  ${s.digest.slice(0, 19)} ${mb(s.uncompressed).padStart(9)}  ${s.images.join(", ")}`);
  return lines.join("\n");
}
