import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidReferenceError } from "./errors.ts";
import { apiHost, formatReference, manifestIdentifier, parseReference, pinnedReference } from "./reference.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("parseReference", () => {
  it.each([
    ["busybox", "docker.io", "library/busybox", "latest", undefined],
    ["busybox:1.36", "docker.io", "library/busybox", "1.36", undefined],
    ["docker.io/busybox", "docker.io", "library/busybox", "latest", undefined],
    ["index.docker.io/library/busybox:1", "docker.io", "library/busybox", "1", undefined],
    ["someone/app:v2", "docker.io", "someone/app", "v2", undefined],
    ["quay.io/org/app:v1", "quay.io", "org/app", "v1", undefined],
    ["localhost/app", "localhost", "app", "latest", undefined],
    ["localhost:5000/a/b/c:t", "localhost:5000", "a/b/c", "t", undefined],
    ["127.0.0.1:5000/app@" + DIGEST, "127.0.0.1:5000", "app", undefined, DIGEST],
    ["[::1]:5000/app:v1", "[::1]:5000", "app", "v1", undefined],
    ["Registry.Example.com/app", "Registry.Example.com", "app", "latest", undefined],
    ["reg.io/a/b:tag@" + DIGEST, "reg.io", "a/b", "tag", DIGEST],
    ["reg.io/my_app-x.y__z/a--b:t", "reg.io", "my_app-x.y__z/a--b", "t", undefined],
  ])("%s", (input, registry, repository, tag, digest) => {
    expect(parseReference(input)).toEqual({ registry, repository, tag, digest });
  });

  it.each([
    ["", "empty"],
    ["Busybox", "lowercase"],
    ["reg.io/App", "lowercase"],
    ["reg.io/app:", "tag"],
    ["reg.io/app:-bad", "tag"],
    ["reg.io/app@sha256:abc", "64 lowercase"],
    ["reg.io/app@md5:" + "a".repeat(32), "not supported"],
    ["reg.io/-app", "path component"],
    ["reg.io/app/", "path component"],
    ["reg.io//app", "path component"],
    ["reg.io:port/app", "host[:port]"],
    ["-reg.io/app", "host[:port]"],
    [" busybox", "whitespace"],
    [`reg.io/${"a".repeat(250)}`, "longer than 255"],
  ])("refuses %j (%s)", (input, reason) => {
    expect(() => parseReference(input)).toThrow(InvalidReferenceError);
    expect(() => parseReference(input)).toThrow(reason);
  });

  it("uses the digest, not the tag, to address a manifest, and pins without the tag", () => {
    const ref = parseReference(`reg.io/app:v1@${DIGEST}`);
    expect(manifestIdentifier(ref)).toBe(DIGEST);
    expect(pinnedReference(parseReference("busybox:1"), DIGEST)).toBe(`docker.io/library/busybox@${DIGEST}`);
    expect(apiHost("docker.io")).toBe("registry-1.docker.io");
    expect(apiHost("reg.io:5000")).toBe("reg.io:5000");
  });
});

// Generators that follow the distribution grammar.
const alnum = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const separator = fc.constantFrom(".", "_", "__", "-", "--");
const pathComponent = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, a]) => s + a).join(""));
const domainLabel = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?$/);
const domain = fc
  .tuple(fc.array(domainLabel, { minLength: 2, maxLength: 3 }), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }))
  .map(([labels, port]) => labels.join(".") + (port === undefined ? "" : `:${port}`));
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);

describe("parseReference properties", () => {
  it("parses every grammatical reference and formats it back to itself", () => {
    fc.assert(
      fc.property(
        domain,
        fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
        fc.option(tag, { nil: undefined }),
        fc.option(digest, { nil: undefined }),
        (d, path, t, dg) => {
          const input = `${d}/${path.join("/")}${t !== undefined ? `:${t}` : ""}${dg !== undefined ? `@${dg}` : ""}`;
          const ref = parseReference(input);
          expect(ref.registry).toBe(d);
          expect(ref.repository).toBe(path.join("/"));
          expect(ref.digest).toBe(dg);
          expect(ref.tag).toBe(t ?? (dg === undefined ? "latest" : undefined));
          expect(parseReference(formatReference(ref))).toEqual(ref);
        },
      ),
    );
  });

  it("normalises Docker Hub names to docker.io with library/ for official images", () => {
    fc.assert(
      fc.property(fc.array(pathComponent, { minLength: 1, maxLength: 3 }), fc.option(tag, { nil: undefined }), (path, t) => {
        // A first component with a dot names a registry host, not a Docker Hub namespace.
        fc.pre(path.length === 1 || !(path[0] ?? "").includes("."));
        const name = path.join("/");
        const ref = parseReference(t === undefined ? name : `${name}:${t}`);
        expect(ref.registry).toBe("docker.io");
        expect(ref.repository).toBe(path.length === 1 ? `library/${name}` : name);
        expect(parseReference(formatReference(ref))).toEqual(ref);
      }),
    );
  });

  it("throws only InvalidReferenceError on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const ref = parseReference(s);
          expect(parseReference(formatReference(ref))).toEqual(ref);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidReferenceError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
