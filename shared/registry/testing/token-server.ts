import { createPrivateKey, randomUUID, sign, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TestPki } from "./pki.ts";

// The token endpoint of the distribution token-auth flow, run in the test
// process: the real registry (auth.token in its config) trusts the key that
// signs these JWTs through its rootcertbundle.

export interface TokenServerOptions {
  pki: TestPki;
  service: string;
  issuer: string;
  /** username → password. */
  users: Record<string, string>;
  /** Repositories under this prefix can be pulled anonymously. */
  publicPrefix: string;
  /** Lifetime of issued tokens in seconds. */
  expiresIn?: number;
}

export interface TokenServer {
  realm: string;
  /** Every token request received, in order: who asked for which scopes. */
  requests: { user: string | undefined; scopes: string[] }[];
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const signingKey = createPrivateKey(await readFile(opts.pki.tokenKeyFile));
  const x5c = new X509Certificate(await readFile(opts.pki.tokenCertFile)).raw.toString("base64");
  const requests: TokenServer["requests"] = [];

  const issue = (subject: string, access: { type: string; name: string; actions: string[] }[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [x5c] };
    const claims = {
      iss: opts.issuer,
      sub: subject,
      aud: opts.service,
      exp: now + (opts.expiresIn ?? 300),
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(input), { key: signingKey, dsaEncoding: "ieee-p1363" });
    return `${input}.${b64url(signature)}`;
  };

  const server = https.createServer(
    { cert: await readFile(opts.pki.serverCertFile), key: await readFile(opts.pki.serverKeyFile) },
    (req, res) => {
      const url = new URL(req.url ?? "/", "https://localhost");
      const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" "));
      let user: string | undefined;
      const authz = req.headers.authorization;
      if (authz?.startsWith("Basic ")) {
        const decoded = Buffer.from(authz.slice(6), "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        const name = decoded.slice(0, colon);
        if (colon < 0 || opts.users[name] !== decoded.slice(colon + 1)) {
          requests.push({ user: name, scopes });
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "invalid username or password" }] }));
          return;
        }
        user = name;
      }
      requests.push({ user, scopes });
      const access = scopes.flatMap((scope) => {
        const [type, name, actions] = scope.split(":");
        if (type !== "repository" || !name || !actions) return [];
        const wanted = actions.split(",");
        const granted = user !== undefined ? wanted : name.startsWith(opts.publicPrefix) ? wanted.filter((a) => a === "pull") : [];
        return granted.length > 0 ? [{ type, name, actions: granted }] : [];
      });
      const token = issue(user ?? "", access);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token, expires_in: opts.expiresIn ?? 300, issued_at: new Date().toISOString() }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `https://127.0.0.1:${port}/token`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
