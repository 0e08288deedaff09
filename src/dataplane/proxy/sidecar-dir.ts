// A proxy-engine sidecar's private directory (mode 700, from mkdtemp): every file a rendering names,
// written 0600 under content-hashed names (so a reload never reads a file being replaced), and the
// configuration, checked by the engine before it replaces the one the engine reads. Removed with
// everything in it at the end. Shared by the HAProxy and nginx sidecars.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DirRendering {
  text: string;
  files: Record<string, string>;
}

/**
 * A file name carrying a hash of `hashed` (the file's content, unless the caller names it by something
 * else it derives from): `<prefix>-<16 hex digits of SHA-256>.<ext>`. A reload then never reads a file
 * being replaced, and a file is written once however many renderings name it.
 */
export function contentName(prefix: string, ext: string, hashed: string): string {
  return `${prefix}-${createHash('sha256').update(hashed).digest('hex').slice(0, 16)}.${ext}`;
}

export class SidecarDir {
  readonly path = mkdtempSync(join(tmpdir(), 'meshpeer-sidecar-'));

  /**
   * `configFile` is the name of the configuration the engine reads; `keep` names files the engine
   * itself makes there (sockets, pid file), which removeStale leaves alone.
   */
  constructor(
    private readonly configFile: string,
    private readonly keep: readonly string[] = [],
  ) {}

  file(name: string): string {
    return join(this.path, name);
  }

  /**
   * Writes every file the rendering names (each new name only once: names carry their content's hash),
   * then the configuration, checked by `check` (given the candidate's path) before it replaces the one
   * the engine reads.
   */
  async write(rendering: DirRendering, check: (candidate: string) => Promise<void>): Promise<void> {
    const present = new Set(readdirSync(this.path));
    for (const [name, content] of Object.entries(rendering.files)) {
      if (!present.has(name)) writeAtomically(this.file(name), content);
    }
    const next = this.file(`${this.configFile}.next`);
    writeFileSync(next, rendering.text, { mode: 0o600 });
    await check(next);
    renameSync(next, this.file(this.configFile));
  }

  /** Removes files no rendering needs any more: the workers loaded what they use when they started. */
  removeStale(rendering: DirRendering): void {
    const keep = new Set([...Object.keys(rendering.files), this.configFile, ...this.keep]);
    for (const name of readdirSync(this.path)) {
      if (!keep.has(name)) rmSync(this.file(name), { force: true });
    }
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** Written under a temporary name and renamed, so the engine never reads half a file. */
function writeAtomically(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}
