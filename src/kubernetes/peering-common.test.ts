import { describe, expect, it } from 'vitest';
import { STREAM_WARNINGS, streamStatusFields, withStreamWarnings } from './peering-common.js';

const now = new Date('2026-11-30T10:00:00Z');
const stream = {
  ImportedServices: ['a', 'b'],
  ExportedServices: ['web'],
  LastReceive: '2026-11-30T09:59:00Z',
};

describe('streamStatusFields', () => {
  it('counts what the stream reports', () => {
    expect(streamStatusFields({ Name: 'p', State: 'ACTIVE', StreamStatus: stream })).toEqual({
      importedServices: 2,
      exportedServices: 1,
      lastReceiveTime: '2026-11-30T09:59:00Z',
    });
  });

  it('counts nothing for a terminated peering, whatever its last stream status listed', () => {
    expect(streamStatusFields({ Name: 'p', State: 'TERMINATED', StreamStatus: stream })).toMatchObject({
      importedServices: 0,
      exportedServices: 0,
    });
  });
});

describe('withStreamWarnings', () => {
  it("puts the server's warnings in a StreamWarnings condition, and removes it when they are gone", () => {
    const warned = withStreamWarnings(
      [],
      {
        Name: 'p',
        StreamStatus: {
          Warnings: [
            'web is exported to p but no instance of it is registered here, so p imports nothing',
            'api is exported to p but none of its 2 instances is passing its health checks',
          ],
        },
      },
      now,
    );
    expect(warned).toEqual([
      {
        type: STREAM_WARNINGS,
        status: 'True',
        reason: 'PeeringWarnings',
        message:
          'web is exported to p but no instance of it is registered here, so p imports nothing; ' +
          'api is exported to p but none of its 2 instances is passing its health checks',
        lastTransitionTime: '2026-11-30T10:00:00Z',
      },
    ]);
    expect(withStreamWarnings(warned, { Name: 'p', StreamStatus: { Warnings: [] } }, now)).toEqual([]);
  });
});
