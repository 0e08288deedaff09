import { describe, expect, it } from 'vitest';
import { isMeshpeerError } from '../shared/errors.js';
import { decodeConfigEntryText } from './decode-file.js';
import { parseConfigEntry } from './registry.js';

async function errorOf(text: string, filename?: string): Promise<string> {
  try {
    await decodeConfigEntryText(text, filename);
  } catch (err) {
    if (isMeshpeerError(err) && err.kind === 'invalid') return err.message;
    throw err;
  }
  throw new Error('expected the text to be rejected');
}

/** The same entry written as HCL (as `consul config write` takes it) and as JSON. */
const SAME_ENTRY: { name: string; hcl: string; json: unknown }[] = [
  {
    name: 'exported-services, list syntax',
    hcl: `Kind = "exported-services"
Name = "default"
Services = [{ Name = "backend"
  Consumers = [{ Peer = "cluster-02" }] }]
`,
    json: {
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
    },
  },
  {
    name: 'exported-services, repeated blocks',
    hcl: `Kind = "exported-services"
Name = "default"
Services {
  Name = "backend"
  Consumers {
    Peer = "cluster-02"
  }
}
Services {
  Name = "web"
  Consumers = [{ Peer = "cluster-02" }, { Partition = "finance" }]
}
`,
    json: {
      Kind: 'exported-services',
      Name: 'default',
      Services: [
        { Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] },
        { Name: 'web', Consumers: [{ Peer: 'cluster-02' }, { Partition: 'finance' }] },
      ],
    },
  },
  {
    name: 'mesh, block syntax',
    hcl: `Kind = "mesh"
Peering { PeerThroughMeshGateways = true }
TLS {
  Incoming {
    TLSMinVersion = "TLSv1_2"
  }
}
`,
    json: {
      Kind: 'mesh',
      Peering: { PeerThroughMeshGateways: true },
      TLS: { Incoming: { TLSMinVersion: 'TLSv1_2' } },
    },
  },
  {
    name: 'mesh, snake_case HCL',
    hcl: `kind = "mesh"
peering {
  peer_through_mesh_gateways = true
}
allow_enabling_permissive_mutual_tls = true
`,
    json: {
      Kind: 'mesh',
      Peering: { PeerThroughMeshGateways: true },
      AllowEnablingPermissiveMutualTLS: true,
    },
  },
  {
    name: 'proxy-defaults with an opaque Config block',
    hcl: `Kind = "proxy-defaults"
Name = "global"
MeshGateway {
  Mode = "local"
}
Config {
  protocol = "http"
  envoy_prometheus_bind_addr = "0.0.0.0:9102"
  local_connect_timeout_ms = 1000
}
Meta = {
  "external-source" = "kubernetes"
}
`,
    json: {
      Kind: 'proxy-defaults',
      Name: 'global',
      MeshGateway: { Mode: 'local' },
      Config: {
        protocol: 'http',
        envoy_prometheus_bind_addr: '0.0.0.0:9102',
        local_connect_timeout_ms: 1000,
      },
      Meta: { 'external-source': 'kubernetes' },
    },
  },
  {
    name: 'service-intentions with L7 permissions',
    hcl: `Kind = "service-intentions"
Name = "backend"
Sources = [
  {
    Name   = "frontend"
    Peer   = "cluster-02"
    Action = "allow"
  },
  {
    Name = "admin"
    Permissions = [
      {
        Action = "allow"
        HTTP {
          PathPrefix = "/admin"
          Methods    = ["GET", "PUT"]
        }
      }
    ]
  }
]
`,
    json: {
      Kind: 'service-intentions',
      Name: 'backend',
      Sources: [
        { Name: 'frontend', Peer: 'cluster-02', Action: 'allow' },
        {
          Name: 'admin',
          Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/admin', Methods: ['GET', 'PUT'] } }],
        },
      ],
    },
  },
  {
    name: 'service-resolver with labelled blocks',
    hcl: `Kind           = "service-resolver"
Name           = "backend"
ConnectTimeout = "15s"
DefaultSubset  = "v1"
Subsets "v1" {
  Filter = "Service.Meta.version == v1"
}
Subsets "v2" {
  Filter = "Service.Meta.version == v2"
}
Failover "*" {
  Targets = [{ Peer = "cluster-01" }, { Peer = "cluster-03", Service = "backend" }]
}
`,
    json: {
      Kind: 'service-resolver',
      Name: 'backend',
      ConnectTimeout: '15s',
      DefaultSubset: 'v1',
      Subsets: { v1: { Filter: 'Service.Meta.version == v1' }, v2: { Filter: 'Service.Meta.version == v2' } },
      Failover: { '*': { Targets: [{ Peer: 'cluster-01' }, { Peer: 'cluster-03', Service: 'backend' }] } },
    },
  },
];

describe('decodeConfigEntryText', () => {
  it.each(SAME_ENTRY)('decodes $name identically from HCL and JSON', async ({ hcl, json }) => {
    const fromHcl = await decodeConfigEntryText(hcl, 'entry.hcl');
    const fromJson = await decodeConfigEntryText(JSON.stringify(json, null, 2), 'entry.json');
    expect(fromHcl).toEqual(fromJson);
    expect(parseConfigEntry(fromHcl)).toEqual(parseConfigEntry(json));
  });

  it('decodes the seed example to the exact JSON shape', async () => {
    const entry = SAME_ENTRY[0];
    expect(await decodeConfigEntryText(entry?.hcl ?? '')).toEqual(entry?.json);
  });

  it('decides the format by content, not by file name', async () => {
    const json = '{"Kind": "mesh", "Peering": {"PeerThroughMeshGateways": true}}';
    expect(await decodeConfigEntryText(json, 'mesh.hcl')).toEqual({
      Kind: 'mesh',
      Peering: { PeerThroughMeshGateways: true },
    });
    expect(await decodeConfigEntryText('Kind = "mesh"\n', 'no-extension')).toEqual({ Kind: 'mesh' });
  });

  it('keeps unknown fields for validation to report by name', async () => {
    const decoded = await decodeConfigEntryText(
      'Kind = "mesh"\nPeerings { PeerThroughMeshGateways = true }\n',
    );
    expect(decoded).toEqual({ Kind: 'mesh', Peerings: [{ PeerThroughMeshGateways: true }] });
    expect(() => parseConfigEntry(decoded)).toThrow('Peerings: unknown field');
  });

  it('reports a block given twice where one is expected', async () => {
    const decoded = await decodeConfigEntryText('Kind = "mesh"\nPeering {\n}\nPeering {\n}\n');
    expect(() => parseConfigEntry(decoded)).toThrow('Peering: expected an object, got a list');
  });

  it('names file, line and column for HCL syntax errors', async () => {
    expect(await errorOf('Kind = "mesh"\nPeering {\n', 'mesh.hcl')).toBe(
      'mesh.hcl:2:9: invalid HCL: Unclosed configuration block: There is no closing brace for this block before ' +
        'the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.',
    );
    expect(await errorOf('Kind = "mesh"\nKind = "mesh"\n', 'mesh.hcl')).toContain(
      'mesh.hcl:2:1: invalid HCL: Attribute redefined: The argument "Kind" was already set at mesh.hcl:1,1-5.',
    );
  });

  it('names file, line and column for JSON syntax errors', async () => {
    expect(await errorOf('{\n  "Kind": "mesh",\n  "Name": \n}', 'mesh.json')).toBe(
      "mesh.json:4:1: invalid JSON: Unexpected token '}'",
    );
    expect(await errorOf('{\n  "Kind": "mesh",\n}', 'mesh.json')).toBe(
      'mesh.json:3:1: invalid JSON: Expected double-quoted property name',
    );
    expect(await errorOf('{"Kind": "mesh"', 'mesh.json')).toBe(
      "mesh.json:1:16: invalid JSON: Expected ',' or '}' after property value",
    );
  });

  it('uses <input> when no file name is given', async () => {
    expect(await errorOf('{"Kind": }')).toBe("<input>:1:10: invalid JSON: Unexpected token '}'");
  });

  it('rejects empty files and anything but one object', async () => {
    expect(await errorOf('  \n', 'e.hcl')).toBe(
      'e.hcl: the file is empty; expected a config entry in JSON or HCL',
    );
    expect(await errorOf('[{"Kind": "mesh"}]', 'list.json')).toBe(
      'list.json: expected one config entry (an object with Kind and Name), got a list',
    );
    expect(await errorOf('null', 'null.json')).toContain('got null');
  });
});

describe('decodeConfigEntryText with HCL 1 syntax', () => {
  it("accepts blocks inside list items, as in Consul's documentation", async () => {
    const hcl = `Kind = "service-intentions"
Name = "api"
Sources = [
  {
    Name = "admin-dashboard"
    Permissions = [
      {
        Action = "allow"
        HTTP {
          PathPrefix = "/v2"
          Methods    = ["GET", "PUT", "POST", "DELETE", "HEAD"]
        }
      }
    ]
  }
]
`;
    expect(await decodeConfigEntryText(hcl)).toEqual({
      Kind: 'service-intentions',
      Name: 'api',
      Sources: [
        {
          Name: 'admin-dashboard',
          Permissions: [
            {
              Action: 'allow',
              HTTP: { PathPrefix: '/v2', Methods: ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'] },
            },
          ],
        },
      ],
    });
  });

  it('keeps a block for a list field as a list', async () => {
    const hcl =
      'Kind = "exported-services"\nServices = [{\n  Name = "web"\n  Consumers { Peer = "cluster-02" }\n}]\n';
    expect(await decodeConfigEntryText(hcl)).toEqual({
      Kind: 'exported-services',
      Services: [{ Name: 'web', Consumers: [{ Peer: 'cluster-02' }] }],
    });
  });
});
