// Running the kernel's scripts/sign-file (Debian ships it in linux-kbuild-<version>) on one module.
// Its stderr is passed on in errors with any PEM block cut out, so a key can never reach a log or
// the termination message through it.
import { execFile } from "node:child_process";
import { access, constants, readdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where sign-file is looked for when neither --sign-file nor KMM_SIGN_FILE names it. */
const SEARCH = [
  { dir: "/usr/lib", prefix: "linux-kbuild-", rest: "scripts/sign-file" },
  { dir: "/usr/src", prefix: "linux-headers-", rest: "scripts/sign-file" },
] as const;
const FALLBACK = "/usr/local/bin/sign-file";

export class SignFileError extends Error {
  override readonly name = "SignFileError";
}

const PEM_BLOCK = /-----BEGIN [^-]*-----[\s\S]*?(?:-----END [^-]*-----|$)/g;

/** `text` with every PEM block (keys, certificates) replaced by a marker. */
export function redactPem(text: string): string {
  return text.replace(PEM_BLOCK, "[PEM block removed]");
}

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * The sign-file binary: `explicit` when given (it must be executable), else the newest
 * /usr/lib/linux-kbuild-* or /usr/src/linux-headers-* copy, else /usr/local/bin/sign-file.
 * Throws SignFileError naming the places searched.
 */
export async function findSignFile(explicit?: string): Promise<string> {
  if (explicit !== undefined) {
    if (await executable(explicit)) return explicit;
    throw new SignFileError(`sign-file ${explicit} (from --sign-file or KMM_SIGN_FILE) is not an executable file`);
  }
  for (const { dir, prefix, rest } of SEARCH) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(prefix));
    names.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    for (const name of names) {
      const candidate = path.join(dir, name, rest);
      if (await executable(candidate)) return candidate;
    }
  }
  if (await executable(FALLBACK)) return FALLBACK;
  throw new SignFileError(
    `sign-file not found in /usr/lib/linux-kbuild-*/scripts, /usr/src/linux-headers-*/scripts or ${FALLBACK}: install linux-kbuild-<version> or set KMM_SIGN_FILE`,
  );
}

/** Appends a sha256 PKCS#7 signature to `moduleFile` in place (`sign-file sha256 KEY CERT MODULE`). */
export async function signModule(signFile: string, keyFile: string, certFile: string, moduleFile: string): Promise<void> {
  try {
    await run(signFile, ["sha256", keyFile, certFile, moduleFile], { maxBuffer: 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const detail = redactPem((e.stderr ?? "").trim() || e.message).slice(0, 2000);
    throw new SignFileError(`sign-file failed on ${path.basename(moduleFile)}: ${detail}`);
  }
}
