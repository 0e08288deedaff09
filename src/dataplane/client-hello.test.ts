import { beforeAll, describe, expect, it } from 'vitest';
import { parseClientHello } from './client-hello.js';
import { captureClientHello as realClientHello } from './testing/client-hello.js';

/** The same handshake message re-framed into records of at most `size` bytes. */
function reframe(hello: Buffer, size: number): Buffer {
  const handshake = hello.subarray(5);
  const records: Buffer[] = [];
  for (let at = 0; at < handshake.length; at += size) {
    const body = handshake.subarray(at, at + size);
    const header = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    header.writeUInt16BE(body.length, 3);
    records.push(header, body);
  }
  return Buffer.concat(records);
}

let hello: Buffer;
const NAME = 'backend.default.default.cluster-02.external.7c3f.consul';

beforeAll(async () => {
  hello = await realClientHello(NAME);
});

describe('parseClientHello', () => {
  it("reads the server name from a real client's hello", () => {
    expect(parseClientHello(hello)).toEqual({ kind: 'complete', serverName: NAME });
  });

  it('asks for more bytes at every split point of the TCP stream', () => {
    for (let cut = 0; cut < hello.length; cut++) {
      expect(parseClientHello(hello.subarray(0, cut)).kind, `cut at ${cut}`).toBe('incomplete');
    }
  });

  it('reassembles a hello fragmented over several records', () => {
    for (const size of [1, 7, 100]) {
      const framed = reframe(hello, size);
      expect(parseClientHello(framed)).toEqual({ kind: 'complete', serverName: NAME });
      expect(parseClientHello(framed.subarray(0, framed.length - 1)).kind).toBe('incomplete');
    }
  });

  it('reports a hello without a server name as complete with none', async () => {
    const bare = await realClientHello();
    expect(parseClientHello(bare)).toEqual({ kind: 'complete', serverName: undefined });
  });

  it('turns away plain text at the first byte', () => {
    expect(parseClientHello(Buffer.from('G')).kind).toBe('not-tls');
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind).toBe('not-tls');
    expect(parseClientHello(Buffer.from([0x16, 0x02])).kind).toBe('not-tls');
  });

  it('calls malformed what starts like TLS but is not a ClientHello', () => {
    const cases = [
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), // empty record
      Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]), // record longer than TLS allows
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]), // ServerHello
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x06, 0x01, 0x00, 0x00, 0x02, 0x03, 0x03]), // truncated body
    ];
    for (const bytes of cases) expect(parseClientHello(bytes).kind, bytes.toString('hex')).toBe('malformed');
  });

  it('calls malformed a hello whose lengths lie about its contents', () => {
    const corrupt = Buffer.from(hello);
    // The session id length byte, after record header (5), handshake header (4), version and random (34).
    corrupt[5 + 4 + 34] = 0xff;
    expect(parseClientHello(corrupt).kind).toBe('malformed');
  });
});
