import { describe, expect, it } from 'vitest';
import { currentWorkers, findHaproxy } from './haproxy-process.js';

describe('currentWorkers', () => {
  it('lists the workers of `show proc`, not the old ones still finishing', () => {
    const answer = [
      '#<PID>          <type>          <reloads>       <uptime>        <version>',
      '8133            master          2 [failed: 0]   0d00h01m01s     2.6.12',
      '# workers',
      '8201            worker          0               0d00h00m01s     2.6.12',
      '# old workers',
      '8136            worker          2               0d00h01m01s     2.6.12',
      '# programs',
      '',
    ].join('\n');
    expect(currentWorkers(answer)).toEqual([8201]);
    expect(currentWorkers('')).toEqual([]);
  });
});

describe('findHaproxy', () => {
  it('says how to install HAProxy when MESHPEER_HAPROXY names nothing runnable', () => {
    expect(() => findHaproxy({ MESHPEER_HAPROXY: '/nonexistent/haproxy' })).toThrow(
      /apt-get install haproxy.*--engine node/,
    );
  });
});
