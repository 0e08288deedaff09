// The peering token: base64 of a JSON document with what a dialer needs to reach and trust the
// acceptor and prove itself once. Decoding says exactly which part of a bad token is wrong.
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { invalid } from '../shared/errors.js';
import { describeZodError } from '../shared/zod-message.js';

export const peeringTokenSchema = z.object({
  CA: z.array(z.string().min(1)).min(1, 'must hold at least one CA certificate'),
  ServerAddresses: z.array(z.string().min(1)).default([]),
  ManualServerAddresses: z.array(z.string().min(1)).optional(),
  ServerName: z.string().min(1),
  PeerID: z.string().min(1),
  EstablishmentSecret: z.string().min(1),
  Remote: z
    .object({ Datacenter: z.string().default(''), Partition: z.string().default('default') })
    .default({ Datacenter: '', Partition: 'default' }),
});
export type PeeringToken = z.infer<typeof peeringTokenSchema>;

export function encodePeeringToken(token: PeeringToken): string {
  return Buffer.from(JSON.stringify(token), 'utf8').toString('base64');
}

/** The addresses a dialer tries: the manual ones when the acceptor's operator gave them. */
export function tokenAddresses(token: PeeringToken): string[] {
  return token.ManualServerAddresses && token.ManualServerAddresses.length > 0
    ? token.ManualServerAddresses
    : token.ServerAddresses;
}

export function decodePeeringToken(text: unknown): PeeringToken {
  if (typeof text !== 'string' || text.trim() === '') {
    throw invalid('PeeringToken: is required; paste the token generated on the accepting cluster');
  }
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw invalid('PeeringToken: is not valid base64; copy the whole token, without quotes or line breaks');
  }
  const json = Buffer.from(compact, 'base64').toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw invalid(
      'PeeringToken: decodes from base64 but is not JSON; it is not a peering token or it was truncated',
    );
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid('PeeringToken: decodes to JSON that is not an object; it is not a peering token');
  }
  const parsed = peeringTokenSchema.safeParse(raw);
  if (!parsed.success) {
    throw invalid(`PeeringToken: is missing or has malformed fields: ${describeZodError(parsed.error)}`);
  }
  const token = parsed.data;
  if (tokenAddresses(token).length === 0) {
    throw invalid(
      'PeeringToken: holds no server address to dial; generate it again with ServerExternalAddresses',
    );
  }
  token.CA.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch {
      throw invalid(`PeeringToken: CA[${i}] is not a PEM certificate`);
    }
  });
  return token;
}
