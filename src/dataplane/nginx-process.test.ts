import { describe, expect, it } from 'vitest';
import { findNginx } from './nginx-process.js';

// findNginx against this machine's nginx (scripts/test-deps.sh installs it with Debian's modules).
describe('findNginx', () => {
  it('loads the stream and njs modules from Debian’s directory by default', () => {
    const { modules } = findNginx({ PATH: process.env.PATH });
    expect(modules.map((m) => m.split('/').pop())).toEqual([
      'ngx_stream_module.so',
      'ngx_stream_js_module.so',
    ]);
  });

  it('loads no module when MESHPEER_NGINX_MODULES is set but empty (built into nginx), even where Debian’s are', () => {
    expect(findNginx({ PATH: process.env.PATH, MESHPEER_NGINX_MODULES: '' }).modules).toEqual([]);
  });

  it('refuses a module directory without them, naming it and how to install them', () => {
    expect(() =>
      findNginx({ PATH: process.env.PATH, MESHPEER_NGINX_MODULES: '/nonexistent/modules' }),
    ).toThrow(/not in \/nonexistent\/modules: install nginx/);
  });
});
