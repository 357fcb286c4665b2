import type { Readable } from "node:stream";

// A minimal tar (POSIX ustar + pax) writer and a streaming reader: enough for
// image layers. The reader understands pax and GNU long names and links,
// base-256 sizes, and checks header checksums.

const BLOCK = 512;

export class TarFormatError extends Error {
  override readonly name = "TarFormatError";
}

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "char" | "block" | "fifo" | "other";

export interface TarHeader {
  path: string;
  type: TarEntryType;
  /** The raw typeflag, for messages about entries we skip. */
  typeflag: string;
  mode: number;
  size: number;
  linkname: string;
  mtime: number;
  /** Owner as numbers and names (pax uid/gid/uname/gname override the ustar fields). */
  uid: number;
  gid: number;
  uname: string;
  gname: string;
}

export interface TarWriteEntry {
  path: string;
  type?: "file" | "directory" | "symlink" | "hardlink";
  content?: Buffer | string;
  linkname?: string;
  mode?: number;
  /** Seconds since the epoch; 0 keeps layers reproducible. */
  mtime?: number;
  /** Owner; root (0/0, no names) when unset. */
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
}

/** Largest value the 8-byte octal uid/gid fields hold; bigger ones go into pax records. */
const MAX_OCTAL_ID = 0o7777777;

interface Owner {
  uid: number;
  gid: number;
  uname: string;
  gname: string;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, Math.min(length, Buffer.byteLength(value)), "utf8");
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

const ROOT: Owner = { uid: 0, gid: 0, uname: "", gname: "" };

function header(name: string, typeflag: string, size: number, mode: number, linkname: string, mtime: number, owner: Owner = ROOT): Buffer {
  const h = Buffer.alloc(BLOCK);
  writeString(h, 0, 100, name);
  writeString(h, 100, 8, octal(mode, 8));
  writeString(h, 108, 8, octal(Math.min(owner.uid, MAX_OCTAL_ID), 8));
  writeString(h, 116, 8, octal(Math.min(owner.gid, MAX_OCTAL_ID), 8));
  writeString(h, 124, 12, octal(size, 12));
  writeString(h, 136, 12, octal(mtime, 12));
  h.fill(0x20, 148, 156);
  writeString(h, 156, 1, typeflag);
  writeString(h, 157, 100, linkname);
  writeString(h, 257, 6, "ustar\0");
  writeString(h, 263, 2, "00");
  writeString(h, 265, 32, owner.uname);
  writeString(h, 297, 32, owner.gname);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}

function pad(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** Writes entries as an uncompressed tar archive; long names and links go into pax headers. */
export function createTar(entries: readonly TarWriteEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? "file";
    const content = type === "file" ? Buffer.from(e.content ?? "") : Buffer.alloc(0);
    const linkname = e.linkname ?? "";
    const mode = e.mode ?? (type === "directory" ? 0o755 : 0o644);
    const mtime = e.mtime ?? 0;
    const flag = { file: "0", hardlink: "1", symlink: "2", directory: "5" }[type];
    const owner: Owner = { uid: e.uid ?? 0, gid: e.gid ?? 0, uname: e.uname ?? "", gname: e.gname ?? "" };
    let records = "";
    if (Buffer.byteLength(e.path) > 100) records += paxRecord("path", e.path);
    if (Buffer.byteLength(linkname) > 100) records += paxRecord("linkpath", linkname);
    if (owner.uid > MAX_OCTAL_ID) records += paxRecord("uid", String(owner.uid));
    if (owner.gid > MAX_OCTAL_ID) records += paxRecord("gid", String(owner.gid));
    if (Buffer.byteLength(owner.uname) > 32) records += paxRecord("uname", owner.uname);
    if (Buffer.byteLength(owner.gname) > 32) records += paxRecord("gname", owner.gname);
    if (records !== "") {
      const pax = Buffer.from(records);
      parts.push(header("PaxHeaders/entry", "x", pax.length, 0o644, "", mtime), pax, pad(pax.length));
    }
    const short: Owner = {
      ...owner,
      uname: Buffer.byteLength(owner.uname) > 32 ? "" : owner.uname,
      gname: Buffer.byteLength(owner.gname) > 32 ? "" : owner.gname,
    };
    parts.push(header(e.path.slice(0, 100), flag, content.length, mode, linkname.slice(0, 100), mtime, short), content, pad(content.length));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private done = false;
  private readonly source: AsyncIterator<unknown>;
  constructor(source: AsyncIterator<unknown>) {
    this.source = source;
  }

  private async fill(n: number): Promise<void> {
    while (this.length < n && !this.done) {
      const next = await this.source.next();
      if (next.done === true) {
        this.done = true;
        break;
      }
      const chunk = next.value as Buffer;
      this.buffered.push(chunk);
      this.length += chunk.length;
    }
  }

  private take(n: number): Buffer {
    const all = this.buffered.length === 1 ? (this.buffered[0] ?? Buffer.alloc(0)) : Buffer.concat(this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** Exactly n bytes, or undefined at a clean end of stream. */
  async exact(n: number): Promise<Buffer | undefined> {
    await this.fill(n);
    if (this.length === 0 && this.done) return undefined;
    if (this.length < n) throw new TarFormatError("archive is truncated");
    return this.take(n);
  }

  /** Reads and discards the rest of the stream (tar padding), so a verifying source sees every byte. */
  async drain(): Promise<void> {
    this.buffered = [];
    this.length = 0;
    while (!this.done) {
      const next = await this.source.next();
      if (next.done === true) this.done = true;
    }
  }

  /** Up to n bytes as they arrive (at least one chunk, unless n is 0). */
  async some(n: number): Promise<Buffer> {
    await this.fill(1);
    if (this.length === 0) throw new TarFormatError("archive is truncated");
    return this.take(Math.min(n, this.length));
  }
}

function cString(buf: Buffer, start: number, length: number): string {
  const slice = buf.subarray(start, start + length);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul >= 0 ? nul : slice.length).toString("utf8");
}

function numeric(buf: Buffer, start: number, length: number, field: string): number {
  const first = buf[start] ?? 0;
  if (first & 0x80) {
    // GNU base-256 for values that do not fit in octal.
    let value = first & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (buf[i] ?? 0);
    return value;
  }
  const text = cString(buf, start, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`header field ${field} is not octal: ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(data.subarray(pos, space).toString("ascii"));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length) throw new TarFormatError("malformed pax header");
    const record = data.subarray(space + 1, pos + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

function paxNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
};

export interface TarEntry {
  header: TarHeader;
  /** The entry's content, chunk by chunk; unread content is skipped when the next entry is requested. */
  body: () => AsyncGenerator<Buffer>;
}

/** Reads a tar stream entry by entry. Consume (or ignore) each body before asking for the next entry. */
export async function* readTar(stream: Readable | AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader((stream as AsyncIterable<unknown>)[Symbol.asyncIterator]());
  let pending: Record<string, string> = {};
  for (;;) {
    const block = await reader.exact(BLOCK);
    if (block === undefined) return;
    if (block.every((b) => b === 0)) {
      await reader.drain();
      return;
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    if (numeric(block, 148, 8, "chksum") !== sum) throw new TarFormatError("header checksum mismatch");

    const typeflag = String.fromCharCode(block[156] ?? 0);
    const size = numeric(block, 124, 12, "size");
    let name = cString(block, 0, 100);
    if (cString(block, 257, 5) === "ustar") {
      const prefix = cString(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const padded = size + ((BLOCK - (size % BLOCK)) % BLOCK);

    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      if (size > 1024 * 1024) throw new TarFormatError("extended header larger than 1 MiB");
      const data = (await reader.exact(padded)) ?? Buffer.alloc(0);
      const content = data.subarray(0, size);
      if (typeflag === "x") pending = { ...pending, ...parsePax(content) };
      else if (typeflag === "L") pending.path = cString(content, 0, content.length);
      else if (typeflag === "K") pending.linkpath = cString(content, 0, content.length);
      continue;
    }

    const paxSize = pending.size !== undefined ? Number(pending.size) : undefined;
    const realSize = paxSize !== undefined && Number.isSafeInteger(paxSize) ? paxSize : size;
    const header: TarHeader = {
      path: pending.path ?? name,
      type: TYPES[typeflag] ?? "other",
      typeflag,
      mode: numeric(block, 100, 8, "mode"),
      size: realSize,
      linkname: pending.linkpath ?? cString(block, 157, 100),
      mtime: numeric(block, 136, 12, "mtime"),
      uid: paxNumber(pending.uid) ?? numeric(block, 108, 8, "uid"),
      gid: paxNumber(pending.gid) ?? numeric(block, 116, 8, "gid"),
      uname: pending.uname ?? cString(block, 265, 32),
      gname: pending.gname ?? cString(block, 297, 32),
    };
    pending = {};
    // Links, directories and devices carry no data whatever their size field says.
    const dataSize = header.type === "file" || header.type === "other" ? realSize : 0;
    let remaining = dataSize;
    const body = async function* (): AsyncGenerator<Buffer> {
      while (remaining > 0) {
        const chunk = await reader.some(remaining);
        remaining -= chunk.length;
        yield chunk;
      }
    };
    yield { header, body };
    while (remaining > 0) remaining -= (await reader.some(remaining)).length;
    const padding = (BLOCK - (dataSize % BLOCK)) % BLOCK;
    if (padding > 0) await reader.exact(padding);
  }
}
