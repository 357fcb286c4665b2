// Certificates for a local cluster, made with Debian's openssl: a CA per cluster, the
// apiserver's serving certificate, client certificates per user, and the service-account key.
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0] ?? ""} failed in ${cwd}: ${stderr.trim() || String(err)}`);
  }
}

export interface ClientCert {
  cert: string;
  key: string;
}

export interface ClusterPki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saKey: string;
  saPub: string;
  client(name: string, groups: string[]): Promise<ClientCert>;
}

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export async function createPki(dir: string, clusterName: string): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  await openssl(["req", "-x509", ...ecKey, "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", `/CN=${clusterName}-ca`], dir);
  await writeFile(
    p("server.ext"),
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1",
      "",
    ].join("\n"),
  );
  await openssl(["req", "-new", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver"], dir);
  await openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "30", "-extfile", "server.ext"], dir);
  await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], dir);
  await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  await writeFile(p("client.ext"), "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n");

  return {
    dir,
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    saKey: p("sa.key"),
    saPub: p("sa.pub"),
    async client(name, groups) {
      const base = name.replace(/[^a-zA-Z0-9_.-]/g, "_");
      const subj = `${groups.map((g) => `/O=${g}`).join("")}/CN=${name}`;
      await openssl(["req", "-new", ...ecKey, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", subj], dir);
      await openssl(["x509", "-req", "-in", `${base}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${base}.crt`, "-days", "30", "-extfile", "client.ext"], dir);
      return { cert: p(`${base}.crt`), key: p(`${base}.key`) };
    },
  };
}

/** A kubeconfig with embedded credentials, so it can be copied anywhere. */
export async function writeKubeconfig(
  path: string,
  opts: { cluster: string; server: string; caCert: string; user: string; cert?: ClientCert; token?: string },
): Promise<void> {
  const b64 = async (f: string) => (await readFile(f)).toString("base64");
  const user: Record<string, string> = {};
  if (opts.cert) {
    user["client-certificate-data"] = await b64(opts.cert.cert);
    user["client-key-data"] = await b64(opts.cert.key);
  }
  if (opts.token) user.token = opts.token;
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: opts.cluster, cluster: { server: opts.server, "certificate-authority-data": await b64(opts.caCert) } }],
    users: [{ name: opts.user, user }],
    contexts: [{ name: opts.cluster, context: { cluster: opts.cluster, user: opts.user } }],
    "current-context": opts.cluster,
  };
  // JSON is valid YAML; kubectl and client-node read it as a kubeconfig.
  await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
}
