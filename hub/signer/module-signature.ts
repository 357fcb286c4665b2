// The signature the kernel's sign-file appends to a module, read without the kernel: the
// trailer "~Module signature appended~\n" after a 12-byte struct module_signature (Linux
// include/linux/module_signature.h) and, before it, a detached PKCS#7/CMS SignedData. Used to
// tell whether a module already carries a valid signature by the key we sign with, so signing
// the same image twice changes nothing.
import { createHash, verify, type KeyObject } from "node:crypto";

export const MODULE_SIGNATURE_MAGIC = Buffer.from("~Module signature appended~\n", "ascii");
/** sizeof(struct module_signature): algo, hash, id_type, signer_len, key_id_len, __pad[3], sig_len (big endian). */
const SIGNATURE_INFO_LENGTH = 12;
/** id_type PKEY_ID_PKCS7: the only kind sign-file writes (and the kernel accepts). */
export const PKEY_ID_PKCS7 = 2;

export interface AppendedSignature {
  /** Bytes of the module the signature covers (the module without any signature). */
  bodyLength: number;
  /** The id_type of struct module_signature (2 = PKCS#7). */
  idType: number;
  /** The DER bytes of the signature (a CMS ContentInfo for PKCS#7). */
  signature: Buffer;
}

export class ModuleSignatureError extends Error {
  override readonly name = "ModuleSignatureError";
}

/**
 * The signature appended to `module`, or undefined for an unsigned module. Throws
 * ModuleSignatureError when the trailer is there but its lengths do not fit the file.
 */
export function appendedSignature(module: Buffer): AppendedSignature | undefined {
  const magicAt = module.length - MODULE_SIGNATURE_MAGIC.length;
  if (magicAt < SIGNATURE_INFO_LENGTH || !module.subarray(magicAt).equals(MODULE_SIGNATURE_MAGIC)) return undefined;
  const infoAt = magicAt - SIGNATURE_INFO_LENGTH;
  const idType = module[infoAt + 2] ?? 0;
  const sigLength = module.readUInt32BE(infoAt + 8);
  const bodyLength = infoAt - sigLength;
  if (bodyLength < 0) throw new ModuleSignatureError(`the module signature trailer announces ${sigLength} bytes of signature, more than the file holds`);
  return { bodyLength, idType, signature: module.subarray(bodyLength, infoAt) };
}

/** The module without its appended signature (the module itself when unsigned). */
export function stripSignature(module: Buffer): Buffer {
  const sig = appendedSignature(module);
  return sig === undefined ? module : module.subarray(0, sig.bodyLength);
}

// ---- a minimal DER reader: enough of CMS SignedData to find the signer's signature ----

interface Tlv {
  tag: number;
  /** Where the value starts and ends (exclusive) in the buffer. */
  start: number;
  end: number;
  /** Where the whole element (tag and length included) starts. */
  headerStart: number;
}

function tlv(buf: Buffer, at: number, limit: number): Tlv {
  const tag = buf[at];
  const first = buf[at + 1];
  if (tag === undefined || first === undefined) throw new ModuleSignatureError("signature is truncated");
  if ((tag & 0x1f) === 0x1f) throw new ModuleSignatureError("signature uses a multi-byte DER tag");
  let length = first;
  let start = at + 2;
  if (first & 0x80) {
    const bytes = first & 0x7f;
    if (bytes === 0 || bytes > 4) throw new ModuleSignatureError("signature uses an indefinite or oversized DER length");
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (buf[start + i] ?? 0);
    start += bytes;
  }
  const end = start + length;
  if (end > limit) throw new ModuleSignatureError("a DER element of the signature runs past its parent");
  return { tag, start, end, headerStart: at };
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = tlv(buf, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t?.tag !== tag) throw new ModuleSignatureError(`signature is not CMS SignedData: ${what} missing`);
  return t;
}

const OID = {
  signedData: "2a864886f70d010702",
  messageDigest: "2a864886f70d010904",
} as const;

/** Digest algorithm OIDs (DER content, hex) → Node hash names. */
const DIGESTS: Record<string, string> = {
  "2b0e03021a": "sha1",
  "608648016503040201": "sha256",
  "608648016503040202": "sha384",
  "608648016503040203": "sha512",
  "608648016503040204": "sha224",
};

interface SignerInfo {
  digest: string;
  signedAttrs?: Buffer;
  messageDigest?: Buffer;
  signature: Buffer;
}

function signerInfos(der: Buffer): SignerInfo[] {
  const contentInfo = expectTag(tlv(der, 0, der.length), 0x30, "ContentInfo");
  const [type, explicit] = children(der, contentInfo);
  const contentType = expectTag(type, 0x06, "contentType");
  if (der.subarray(contentType.start, contentType.end).toString("hex") !== OID.signedData) {
    throw new ModuleSignatureError("signature is not CMS SignedData");
  }
  const signedData = expectTag(children(der, expectTag(explicit, 0xa0, "content"))[0], 0x30, "SignedData");
  const parts = children(der, signedData);
  const infos = expectTag(parts.at(-1), 0x31, "signerInfos");
  return children(der, infos).map((info) => {
    const fields = children(der, expectTag(info, 0x30, "SignerInfo"));
    // version, sid, digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature, [1] unsignedAttrs?
    const digestAlg = expectTag(children(der, expectTag(fields[2], 0x30, "digestAlgorithm"))[0], 0x06, "digest OID");
    const digestOid = der.subarray(digestAlg.start, digestAlg.end).toString("hex");
    const digest = DIGESTS[digestOid];
    if (digest === undefined) throw new ModuleSignatureError(`signature uses an unknown digest algorithm (OID ${digestOid})`);
    let i = 3;
    const result: SignerInfo = { digest, signature: Buffer.alloc(0) };
    const attrs = fields[i];
    if (attrs?.tag === 0xa0) {
      // Signed attributes are signed as a SET OF (tag 0x31), not with their implicit [0] tag.
      result.signedAttrs = Buffer.concat([Buffer.from([0x31]), der.subarray(attrs.headerStart + 1, attrs.end)]);
      for (const attr of children(der, attrs)) {
        const [oid, values] = children(der, attr);
        if (oid && values && der.subarray(oid.start, oid.end).toString("hex") === OID.messageDigest) {
          const value = children(der, values)[0];
          if (value) result.messageDigest = der.subarray(value.start, value.end);
        }
      }
      i++;
    }
    i++; // signatureAlgorithm: the key decides how to verify.
    const signature = expectTag(fields[i], 0x04, "signature");
    result.signature = der.subarray(signature.start, signature.end);
    return result;
  });
}

/**
 * Whether `module` carries an appended PKCS#7 signature that verifies, over the module's
 * content, with `publicKey` (the signing certificate's key): a module sign-file signed with the
 * key that belongs to that certificate. False for unsigned modules, other keys, other signature
 * kinds and modules changed after signing.
 */
export function isSignedWith(module: Buffer, publicKey: KeyObject): boolean {
  let sig: AppendedSignature | undefined;
  let infos: SignerInfo[];
  try {
    sig = appendedSignature(module);
    if (sig?.idType !== PKEY_ID_PKCS7) return false;
    infos = signerInfos(sig.signature);
  } catch (err) {
    if (err instanceof ModuleSignatureError) return false;
    throw err;
  }
  const body = module.subarray(0, sig.bodyLength);
  return infos.some((info) => {
    let signed: Buffer = body;
    if (info.signedAttrs !== undefined) {
      const digest = createHash(info.digest).update(body).digest();
      if (info.messageDigest === undefined || !digest.equals(info.messageDigest)) return false;
      signed = info.signedAttrs;
    }
    try {
      return verify(info.digest, signed, publicKey, info.signature);
    } catch {
      return false;
    }
  });
}
