// Reads the server name (SNI) out of the first bytes of a TLS connection, without taking part in TLS:
// the ClientHello is parsed from raw records so the bytes can be forwarded untouched afterwards.

export type ClientHelloResult =
  | { kind: 'incomplete' }
  | { kind: 'complete'; serverName: string | undefined }
  | { kind: 'not-tls' }
  | { kind: 'malformed'; detail: string };

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const CONTENT_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXTENSION_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;
// RFC 8446 §5.1: a record carries at most 2^14 bytes of plaintext (a ClientHello is never protected).
const MAX_RECORD = 16_384;
const HOST_NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/;

class Malformed extends Error {}

/** A bounds-checked cursor over a byte range; any read past the end means the hello is malformed. */
class Reader {
  private at = 0;
  constructor(private readonly bytes: Buffer) {}
  get remaining(): number {
    return this.bytes.length - this.at;
  }
  u8(): number {
    return this.take(1).readUInt8(0);
  }
  u16(): number {
    return this.take(2).readUInt16BE(0);
  }
  take(n: number): Buffer {
    if (n > this.remaining) throw new Malformed(`truncated: wanted ${n} bytes, ${this.remaining} left`);
    const slice = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return slice;
  }
  /** A length-prefixed vector, as its own reader. */
  vector(lengthBytes: 1 | 2): Reader {
    return new Reader(this.take(lengthBytes === 1 ? this.u8() : this.u16()));
  }
}

/**
 * Parses as much of `data` (the first bytes a client sent) as has arrived. A ClientHello may span
 * several records and each record several TCP segments, so `incomplete` asks for more bytes.
 */
export function parseClientHello(data: Buffer): ClientHelloResult {
  if (data.length === 0) return { kind: 'incomplete' };
  // Checked on the first byte so plain-text clients are turned away without waiting for more.
  if (data[0] !== CONTENT_HANDSHAKE) return { kind: 'not-tls' };
  if (data.length >= 2 && data[1] !== 0x03) return { kind: 'not-tls' };
  const handshake: Buffer[] = [];
  let offset = 0;
  while (offset + RECORD_HEADER <= data.length) {
    if (data[offset] !== CONTENT_HANDSHAKE) {
      return {
        kind: 'malformed',
        detail: 'a record other than a handshake arrived before the ClientHello ended',
      };
    }
    const length = data.readUInt16BE(offset + 3);
    if (length === 0 || length > MAX_RECORD) {
      return { kind: 'malformed', detail: `record length ${length} is out of range` };
    }
    if (offset + RECORD_HEADER + length > data.length) return { kind: 'incomplete' };
    handshake.push(data.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length));
    offset += RECORD_HEADER + length;
    const result = fromHandshake(Buffer.concat(handshake));
    if (result.kind !== 'incomplete') return result;
  }
  return { kind: 'incomplete' };
}

function fromHandshake(bytes: Buffer): ClientHelloResult {
  if (bytes.length < HANDSHAKE_HEADER) return { kind: 'incomplete' };
  if (bytes[0] !== HANDSHAKE_CLIENT_HELLO) {
    return { kind: 'malformed', detail: `first handshake message has type ${bytes[0]}, not ClientHello` };
  }
  const length = bytes.readUIntBE(1, 3);
  if (bytes.length < HANDSHAKE_HEADER + length) return { kind: 'incomplete' };
  try {
    const serverName = serverNameOf(new Reader(bytes.subarray(HANDSHAKE_HEADER, HANDSHAKE_HEADER + length)));
    return { kind: 'complete', serverName };
  } catch (err) {
    if (err instanceof Malformed) return { kind: 'malformed', detail: err.message };
    throw err;
  }
}

function serverNameOf(hello: Reader): string | undefined {
  hello.take(2 + 32); // legacy_version, random
  const sessionId = hello.vector(1);
  if (sessionId.remaining > 32) throw new Malformed('session id longer than 32 bytes');
  const suites = hello.vector(2);
  if (suites.remaining === 0 || suites.remaining % 2 !== 0) throw new Malformed('bad cipher suite list');
  if (hello.vector(1).remaining === 0) throw new Malformed('empty compression method list');
  if (hello.remaining === 0) return undefined; // no extensions at all
  const extensions = hello.vector(2);
  if (hello.remaining !== 0) throw new Malformed('bytes after the extensions');
  let serverName: string | undefined;
  let seen = false;
  while (extensions.remaining > 0) {
    const type = extensions.u16();
    const body = extensions.vector(2);
    if (type !== EXTENSION_SERVER_NAME) continue;
    if (seen) throw new Malformed('server_name extension appears twice');
    seen = true;
    serverName = hostNameOf(body);
  }
  return serverName;
}

function hostNameOf(extension: Reader): string | undefined {
  const list = extension.vector(2);
  let host: string | undefined;
  while (list.remaining > 0) {
    const type = list.u8();
    const name = list.vector(2);
    if (type !== NAME_TYPE_HOST) continue;
    if (host !== undefined) throw new Malformed('more than one host_name in server_name');
    const text = name.take(name.remaining).toString('latin1').toLowerCase();
    if (text.length === 0 || text.length > 253 || !HOST_NAME.test(text)) {
      throw new Malformed('server_name is not a DNS host name');
    }
    host = text.endsWith('.') ? text.slice(0, -1) : text;
  }
  return host;
}
