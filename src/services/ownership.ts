import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LocalParts } from '../runtime/index.js';
import { agentPaths, haproxyPaths, proxyPaths, redisPaths, sentinelPaths, type Topology } from '../topology/index.js';
import type { Account } from './system.js';

/** One change of owner or mode under the state dir, with what was there before (to undo it). */
export interface OwnershipChange {
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

/**
 * Who owns what under the state dir. The engines own their folders (they rewrite their configs and write data
 * and logs). The proxy folder is root's with the group's write and the sticky bit: the agent may create and
 * replace its own staging file there, nutcracker its log, but neither can replace root's live nutcracker.yml.
 */
export function ownershipPlan(topo: Topology, parts: LocalParts, a: Account, secret: boolean): OwnershipChange[] {
  const out: OwnershipChange[] = [];
  const tree = (dir: string, dirMode: number) => {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    out.push({ path: dir, uid: a.uid, gid: a.gid, mode: dirMode });
    for (const f of walk(dir)) {
      const st = lstatSync(f);
      if (st.isSymbolicLink()) continue;
      out.push({ path: f, uid: a.uid, gid: a.gid, mode: st.isDirectory() ? dirMode : st.mode & 0o7777 & ~0o077 });
    }
  };
  const root = (dir: string) => out.push({ path: dir, uid: 0, gid: a.gid, mode: 0o750 });
  root(topo.stateDir);
  if (parts.redis.length > 0) root(join(topo.stateDir, 'redis'));
  for (const r of parts.redis) tree(redisPaths(topo.stateDir, r).dir, 0o700);
  if (parts.sentinels.length > 0) root(join(topo.stateDir, 'sentinel'));
  for (const s of parts.sentinels) tree(sentinelPaths(topo.stateDir, s).dir, 0o700);
  if (parts.proxy) {
    const p = proxyPaths(topo.proxyDir);
    tree(agentPaths(topo.proxyDir).dir, 0o700);
    for (const f of walk(p.dir)) {
      if (f === p.conf || lstatSync(f).isSymbolicLink() || lstatSync(f).isDirectory()) continue;
      out.push({ path: f, uid: a.uid, gid: a.gid, mode: secret ? 0o600 : 0o640 });
    }
    out.push({ path: p.dir, uid: 0, gid: a.gid, mode: 0o1770 });
    // Mode haproxy: HAProxy and the agent run as the service user; its folder (file, admin socket, log) is theirs.
    if (topo.agent.apply === 'haproxy') tree(haproxyPaths(topo.proxyDir).dir, 0o700);
    out.push(secret ? { path: p.conf, uid: 0, gid: 0, mode: 0o600 } : { path: p.conf, uid: 0, gid: a.gid, mode: 0o640 });
    const staging = topo.stagingFile;
    if (dirname(staging) !== p.dir) {
      // A staging folder of its own: the agent's.
      out.push({ path: dirname(staging), uid: a.uid, gid: a.gid, mode: 0o700 });
      out.push({ path: staging, uid: a.uid, gid: a.gid, mode: secret ? 0o600 : 0o640 });
    }
  }
  return out;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out.push(p);
    const st = lstatSync(p);
    if (st.isDirectory() && !st.isSymbolicLink()) out.push(...walk(p));
  }
  return out;
}

export function currentOwnership(path: string): OwnershipChange | null {
  try {
    const st = lstatSync(path);
    return { path, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
  } catch {
    return null;
  }
}

export function applyOwnership(c: OwnershipChange): void {
  chownSync(c.path, c.uid, c.gid);
  chmodSync(c.path, c.mode);
}
