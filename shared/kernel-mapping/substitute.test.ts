import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseKernelVersion } from "./kernel-version.ts";
import { substitute, SUBSTITUTION_VARIABLES, SubstitutionError, substitutionValues } from "./substitute.ts";

const values = substitutionValues(parseKernelVersion("5.14.0-70.el9.x86_64"), "my-kmod", "kmm-ns");

describe("substitute", () => {
  it("expands every variable KMM documents", () => {
    expect(
      substitute(
        "${KERNEL_FULL_VERSION}|${KERNEL_VERSION}|${KERNEL_XYZ}|${KERNEL_X}|${KERNEL_Y}|${KERNEL_Z}|${MOD_NAME}|${MOD_NAMESPACE}",
        values,
      ),
    ).toBe("5.14.0-70.el9.x86_64|5.14.0-70.el9.x86_64|5.14.0|5|14|0|my-kmod|kmm-ns");
  });

  it("expands the seed's image and filesToSign templates", () => {
    expect(substitute("some.registry/org/my-kmod:${KERNEL_FULL_VERSION}", values)).toBe("some.registry/org/my-kmod:5.14.0-70.el9.x86_64");
    expect(substitute("/opt/lib/modules/${KERNEL_FULL_VERSION}/my_kmod.ko", values)).toBe("/opt/lib/modules/5.14.0-70.el9.x86_64/my_kmod.ko");
  });

  it("accepts the bare $NAME form envsubst (and so upstream) accepts", () => {
    expect(substitute("repo/$MOD_NAME:$KERNEL_XYZ", values)).toBe("repo/my-kmod:5.14.0");
  });

  it("leaves a $ that starts no reference alone", () => {
    expect(substitute("price: 5$ or $1 or $", values)).toBe("price: 5$ or $1 or $");
  });

  it.each([
    ["repo:${FOO}", "${FOO} is not a variable KMM sets (known variables: ${KERNEL_FULL_VERSION}"],
    ["repo:$KERNEL", "$KERNEL is not a variable KMM sets"],
    ["repo:${kernel_full_version}", "${kernel_full_version} is not a variable KMM sets"],
    ["repo:${KERNEL_X:-5}", "${KERNEL_X:-5} is not supported: only plain variables are substituted"],
    ["repo:${}", "${} is not supported"],
    ["repo:${KERNEL_FULL_VERSION", "${ is not closed: write ${NAME}"],
  ])("rejects %j with an actionable message", (template, message) => {
    expect(() => substitute(template, values)).toThrow(SubstitutionError);
    expect(() => substitute(template, values)).toThrow(`${JSON.stringify(template)}: ${message}`);
  });

  it("leaves strings without $ unchanged (property)", () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes("$")),
        (s) => {
          expect(substitute(s, values)).toBe(s);
        },
      ),
    );
  });

  const piece = fc.oneof(
    fc.string().filter((s) => !s.includes("$")),
    fc.constantFrom(...SUBSTITUTION_VARIABLES).map((v) => `\${${v}}`),
    fc.constantFrom(...SUBSTITUTION_VARIABLES).map((v) => `$${v}/`),
  );

  it("is idempotent and leaves no reference behind for templates of known variables (property)", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const once = substitute(pieces.join(""), values);
        expect(once).not.toContain("$");
        expect(substitute(once, values)).toBe(once);
      }),
    );
  });
});
