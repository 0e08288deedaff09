import { describe, expect, it } from 'vitest';
import type { ControllerFlags } from './controller-flags.js';
import { injectSettings } from './controller-inject.js';

const base = {
  server: 'http://127.0.0.1:8500',
  injectAllowNamespaces: '*',
  injectDenyNamespaces: '',
} as ControllerFlags;

describe('injectSettings', () => {
  it('needs the sidecar image', () => {
    expect(() => injectSettings(base, 'http://127.0.0.1:8500')).toThrow(/--inject needs --inject-image/);
  });

  it('refuses a resource that is not a quantity, naming the flag', () => {
    expect(() =>
      injectSettings({ ...base, injectImage: 'i', sidecarMemoryLimit: 'lots' }, 'http://127.0.0.1:8500'),
    ).toThrow(/--sidecar-memory-limit: "lots" is not a Kubernetes quantity/);
  });

  it('builds the settings from the flags', () => {
    const s = injectSettings(
      {
        ...base,
        injectImage: 'meshpeer/meshpeer:1',
        injectDefault: true,
        injectServer: 'server.consul.svc:8500',
        injectAllowNamespaces: 'apps, web',
        injectDenyNamespaces: 'legacy',
        sidecarCpuRequest: '20m',
        sidecarMemoryLimit: '64Mi',
      },
      'http://127.0.0.1:8500',
    );
    expect(s).toEqual({
      defaultInject: true,
      allowNamespaces: ['apps', 'web'],
      denyNamespaces: ['legacy'],
      image: 'meshpeer/meshpeer:1',
      serverAddress: 'http://server.consul.svc:8500',
      resources: { requests: { cpu: '20m' }, limits: { memory: '64Mi' } },
    });
  });

  it('runs the sidecars on the engine --inject-sidecar-engine names (node: the default, left unset)', () => {
    for (const engine of ['haproxy', 'nginx']) {
      expect(injectSettings({ ...base, injectImage: 'i', injectSidecarEngine: engine }, 's').engine).toBe(
        engine,
      );
    }
    expect(
      injectSettings({ ...base, injectImage: 'i', injectSidecarEngine: 'node' }, 's'),
    ).not.toHaveProperty('engine');
    expect(injectSettings({ ...base, injectImage: 'i' }, 's')).not.toHaveProperty('engine');
  });

  it('refuses an engine that is not node, haproxy or nginx, naming all three', () => {
    expect(() => injectSettings({ ...base, injectImage: 'i', injectSidecarEngine: 'envoy' }, 's')).toThrow(
      '--inject-sidecar-engine: "envoy" is not an engine; use node, haproxy or nginx',
    );
  });

  it("defaults the sidecars' server address to the controller's", () => {
    expect(injectSettings({ ...base, injectImage: 'i' }, 'https://s:8501').serverAddress).toBe(
      'https://s:8501',
    );
  });
});
