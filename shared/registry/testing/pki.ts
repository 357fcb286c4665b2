import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestPki {
  caFile: string;
  caPem: string;
  /** Server certificate for 127.0.0.1 and localhost, signed by the CA. */
  serverCertFile: string;
  serverKeyFile: string;
  /** A certificate for 127.0.0.1 signed by nobody we trust (the "self-signed" case). */
  selfSignedCertFile: string;
  selfSignedKeyFile: string;
  /** Key and self-signed certificate that sign registry tokens (the registry's rootcertbundle). */
  tokenKeyFile: string;
  tokenCertFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run("openssl", args, { cwd });
}

/** Makes a CA, a server certificate it signs, a self-signed server certificate and a token-signing pair, with openssl. */
export async function createTestPki(dir: string): Promise<TestPki> {
  const p = (f: string) => path.join(dir, f);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=kmm-hub test CA"], dir);
  await writeFile(p("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  await openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], dir);
  await openssl(
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext"],
    dir,
  );
  await openssl(
    ["req", "-x509", ...ec, "-keyout", "self.key", "-out", "self.crt", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
    dir,
  );
  await openssl(["req", "-x509", ...ec, "-keyout", "token.key", "-out", "token.crt", "-days", "2", "-subj", "/CN=kmm-hub test token issuer"], dir);
  return {
    caFile: p("ca.crt"),
    caPem: await readFile(p("ca.crt"), "utf8"),
    serverCertFile: p("server.crt"),
    serverKeyFile: p("server.key"),
    selfSignedCertFile: p("self.crt"),
    selfSignedKeyFile: p("self.key"),
    tokenKeyFile: p("token.key"),
    tokenCertFile: p("token.crt"),
  };
}
