// The signer's input: command-line flags (named after kaniko's, which upstream KMM's sign step
// ran) and a few environment variables, validated with zod so a bad Job spec fails with a message
// naming the flag. filesToSign must lie under dirName, as upstream KMM's admission webhook requires.
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { parseKernelVersion } from "../../shared/kernel-mapping/kernel-version.ts";
import { substitute, substitutionValues } from "../../shared/kernel-mapping/substitute.ts";

export const DEFAULT_KEY_FILE = "/run/secrets/key/key.pem";
export const DEFAULT_CERT_FILE = "/run/secrets/cert/cert.pem";
export const DEFAULT_TERMINATION_LOG = "/dev/termination-log";

export const SIGNER_USAGE = `usage: kmm-signer --unsigned-image IMAGE --destination IMAGE --file-to-sign PATH [--file-to-sign PATH ...]
  [--dir-name DIR] [--kernel VERSION] [--key FILE] [--cert FILE] [--docker-config FILE] [--ca-file FILE]
  [--insecure-pull] [--skip-tls-verify-pull] [--insecure] [--skip-tls-verify] [--platform OS/ARCH]
  [--termination-log FILE] [--sign-file FILE]

Pulls --unsigned-image, signs each --file-to-sign (absolute paths or globs under --dir-name; \${KERNEL_*}
expanded for --kernel) with sign-file sha256, appends one layer holding the signed files, pushes the
result to --destination and writes its digest to --termination-log. Environment: KMM_SIGN_FILE (sign-file
binary), KMM_TERMINATION_LOG.`;

export class SignerInputError extends Error {
  override readonly name = "SignerInputError";
}

const absolutePath = (flag: string) =>
  z
    .string()
    .min(1, `${flag} must not be empty`)
    .refine((p) => p.startsWith("/"), `${flag} must be an absolute path`)
    .refine((p) => !p.split("/").includes(".."), `${flag} must not contain ".." components`);

export const signerConfigSchema = z
  .object({
    unsignedImage: z.string().min(1, "--unsigned-image is required"),
    destination: z.string().min(1, "--destination is required"),
    filesToSign: z.array(absolutePath("--file-to-sign")).min(1, "at least one --file-to-sign is required"),
    dirName: absolutePath("--dir-name").default("/opt"),
    kernel: z.string().min(1).optional(),
    keyFile: z.string().min(1).default(DEFAULT_KEY_FILE),
    certFile: z.string().min(1).default(DEFAULT_CERT_FILE),
    dockerConfig: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
    /** unsignedImageRegistryTLS (kaniko's --insecure-pull / --skip-tls-verify-pull). */
    pullTLS: z.object({ insecure: z.boolean(), insecureSkipTLSVerify: z.boolean() }),
    /** registryTLS of the kernel mapping, for the push (kaniko's --insecure / --skip-tls-verify). */
    pushTLS: z.object({ insecure: z.boolean(), insecureSkipTLSVerify: z.boolean() }),
    platform: z
      .string()
      .regex(/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/, "--platform must look like linux/amd64")
      .default("linux/amd64"),
    terminationLog: z.string().min(1).default(DEFAULT_TERMINATION_LOG),
    signFile: z.string().min(1).optional(),
  })
  .superRefine((c, ctx) => {
    const dir = c.dirName.replace(/\/+$/, "");
    for (const f of c.filesToSign) {
      if (!f.startsWith(`${dir}/`)) {
        ctx.addIssue({ code: "custom", path: ["filesToSign"], message: `--file-to-sign ${f} must be under --dir-name ${c.dirName}` });
      }
    }
  });
export type SignerConfig = z.infer<typeof signerConfigSchema>;

/**
 * Parses the signer's command line and environment. Throws SignerInputError with a message naming
 * the flag for unknown flags, missing values, relative paths, files outside --dir-name, and
 * `${…}` expressions that --kernel cannot expand.
 */
export function parseSignerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SignerConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        "unsigned-image": { type: "string" },
        destination: { type: "string" },
        "file-to-sign": { type: "string", multiple: true },
        "dir-name": { type: "string" },
        kernel: { type: "string" },
        key: { type: "string" },
        cert: { type: "string" },
        "docker-config": { type: "string" },
        "ca-file": { type: "string" },
        "insecure-pull": { type: "boolean", default: false },
        "skip-tls-verify-pull": { type: "boolean", default: false },
        insecure: { type: "boolean", default: false },
        "skip-tls-verify": { type: "boolean", default: false },
        platform: { type: "string" },
        "termination-log": { type: "string" },
        "sign-file": { type: "string" },
      },
    }));
  } catch (err) {
    throw new SignerInputError(err instanceof Error ? err.message : String(err));
  }
  const kernel = values.kernel;
  const files = (values["file-to-sign"] ?? []).map((f) => expand(f, kernel));
  const parsed = signerConfigSchema.safeParse({
    unsignedImage: values["unsigned-image"] ?? "",
    destination: values.destination ?? "",
    filesToSign: files,
    dirName: values["dir-name"] === undefined ? undefined : path.posix.normalize(values["dir-name"]),
    kernel,
    keyFile: values.key,
    certFile: values.cert,
    dockerConfig: values["docker-config"],
    caFile: values["ca-file"],
    pullTLS: { insecure: values["insecure-pull"], insecureSkipTLSVerify: values["skip-tls-verify-pull"] },
    pushTLS: { insecure: values.insecure, insecureSkipTLSVerify: values["skip-tls-verify"] },
    platform: values.platform,
    terminationLog: values["termination-log"] ?? nonEmpty(env.KMM_TERMINATION_LOG),
    signFile: values["sign-file"] ?? nonEmpty(env.KMM_SIGN_FILE),
  });
  if (!parsed.success) {
    throw new SignerInputError(parsed.error.issues.map((i) => i.message).join("; "));
  }
  return parsed.data;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

/** Expands ${KERNEL_*} for --kernel (the hub passes expanded paths; this keeps hand-written Jobs working). */
function expand(file: string, kernel: string | undefined): string {
  if (!file.includes("${")) return file;
  if (kernel === undefined) throw new SignerInputError(`--file-to-sign ${file} uses \${…} variables: pass --kernel to expand them`);
  try {
    const values = substitutionValues(parseKernelVersion(kernel), "", "");
    const { MOD_NAME: _name, MOD_NAMESPACE: _namespace, ...kernelOnly } = values;
    return substitute(file, kernelOnly);
  } catch (err) {
    throw new SignerInputError(`--file-to-sign ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
