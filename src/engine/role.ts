import { addressFrom } from './address.js';
import { preview } from './preview.js';

/** ROLE: `[master, offset, replicas]`, `[slave, ip, port, state, offset]`, `[sentinel, names]`. */
export type RoleInfo = { role: 'master' } | { role: 'slave'; master: string | null; linkState: string } | { role: 'sentinel' } | { role: 'unknown'; text: string };

export function parseRoleReply(reply: unknown): RoleInfo | { error: string } {
  if (!Array.isArray(reply) || reply.length === 0 || typeof reply[0] !== 'string') return { error: `ROLE answered ${preview(reply)}` };
  switch (reply[0]) {
    case 'master':
      return { role: 'master' };
    case 'slave': {
      const m = addressFrom(reply[1], typeof reply[2] === 'number' ? String(reply[2]) : reply[2]);
      return { role: 'slave', master: typeof m === 'string' ? m : null, linkState: typeof reply[3] === 'string' ? reply[3] : '?' };
    }
    case 'sentinel':
      return { role: 'sentinel' };
    default:
      return { role: 'unknown', text: reply[0].slice(0, 40) };
  }
}
