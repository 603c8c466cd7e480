import { STATE_ENV } from '../runtime/index.js';
import type { Topology } from '../topology/index.js';
import type { UnitNames, UnitOptions } from './units.js';

/** The pieces every unit file of ours is made of: its text layout, identity, and the systemd hardening blocks. */

export function partOf(n: Pick<UnitNames, 'target'>): string[] {
  // PartOf: stopping or restarting the target does the same to every part. network-online: the description's
  // addresses must exist before an engine can bind them.
  return [`PartOf=${n.target}`, 'After=network-online.target', 'Wants=network-online.target'];
}

export function identity(o: UnitOptions, topo: Topology): string[] {
  return [
    `User=${o.user}`,
    `Group=${o.group}`,
    // Redis and Sentinel rewrite their configs (which hold the password) with mode 0644 & ~umask.
    'UMask=0077',
    // The same marker `up` stamps into its processes: status/down recognise these as this state dir's.
    `Environment=${STATE_ENV}=${topo.stateDir}`,
  ];
}

export function commonHardening(o: UnitOptions, writable: string[], opts: { jit: boolean }): string[] {
  return [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    ...writable.map((w) => `ReadWritePaths=${w}`),
    `ProtectHome=${o.protectHome}`,
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    // V8 compiles to memory it then executes; the engines never need that.
    ...(opts.jit ? [] : ['MemoryDenyWriteExecute=yes']),
  ];
}

/** For the unprivileged services: no capabilities at all, and no view of other users' processes. */
export function hardening(o: UnitOptions, writable: string[], opts: { jit: boolean }): string[] {
  return ['CapabilityBoundingSet=', ...commonHardening(o, writable, opts), 'PrivateMounts=yes', 'ProtectProc=invisible', 'RemoveIPC=yes'];
}

export function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

export function unit(header: string[], sections: Partial<Record<'Unit' | 'Service' | 'Path' | 'Install', string[]>>): string {
  const parts = [header.join('\n')];
  for (const [name, lines] of Object.entries(sections)) {
    if (lines && lines.length > 0) parts.push(`[${name}]\n${lines.join('\n')}`);
  }
  return parts.join('\n\n') + '\n';
}
