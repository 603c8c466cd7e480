import { parseSentinelEvent } from '../engine/index.js';
import type { Topology } from '../topology/index.js';
import type { EventSink } from './events.js';
import type { FastPath } from './fast-path.js';
import type { FailoverTimelines } from './timeline.js';

/** Event types that are logged as their own events (the rest are triggers only). */
const LOGGED = new Set([
  '+sdown', '-sdown', '+odown', '-odown', '+try-failover', '+elected-leader', '+selected-slave', '+promoted-slave',
  '+failover-end', '+convert-to-slave', '+tilt', '-tilt', '+reboot', '+failover-end-for-timeout',
]);

export interface EventRouterDeps {
  topo: Topology;
  events: EventSink;
  timelines: FailoverTimelines;
  /** Null when the fast path is off. */
  fast: FastPath | null;
  /** Checks ahead the config that would point `shard` at `to`. */
  prepare(shard: string, to: string): void;
  /** Asks for a full reconcile pass. */
  trigger(reason: string): void;
}

/**
 * Where a sentinel's pub/sub message goes. Every message triggers a full pass (events are triggers, never the
 * truth); on the way, a shard's `+odown` prepares the configs a failover may need, its `+selected-slave` starts
 * the fast path, an abort or end cancels it, and the failover timelines and the events log are fed.
 */
export class SentinelEventRouter {
  private readonly garbage = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly d: EventRouterDeps) {}

  route(sentinel: string, channel: string, message: string): void {
    const { topo, events, timelines, fast } = this.d;
    const ev = parseSentinelEvent(channel, message);
    const known = (shard: string) => topo.shards.find((s) => s.name === shard);
    switch (ev.kind) {
      case 'garbage':
        this.garbageSeen(sentinel, ev.type, ev.text, ev.why);
        break;
      case 'switch-master':
        events.emit('switch-seen', { sentinel, shard: ev.shard, from: ev.from, to: ev.to });
        if (known(ev.shard)) timelines.switchSeen(ev.shard, ev.from, ev.to);
        break;
      case 'instance': {
        const shard = known(ev.shard);
        if (!shard) break;
        if (LOGGED.has(ev.type) || ev.type.startsWith('-failover-abort')) {
          const name = ev.type.slice(1);
          const upDown = name === 'sdown' || name === 'odown';
          events.emit(upDown ? name : 'sentinel-event', {
            sentinel,
            ...(upDown ? { state: ev.type[0] } : { type: ev.type }),
            shard: ev.shard,
            role: ev.role,
            addr: ev.addr,
          });
        }
        if (ev.type === '+odown' && ev.role === 'master') {
          timelines.odown(ev.shard, ev.addr);
          // Check ahead the configs a failover could need, so the switch itself skips nutcracker -t.
          for (const i of shard.instances) if (i !== ev.addr) this.d.prepare(ev.shard, i);
        }
        if (ev.type === '+selected-slave' && fast) {
          timelines.selected(ev.shard, ev.masterAddr, ev.addr);
          if (shard.instances.includes(ev.addr)) fast.selected(ev.shard, ev.masterAddr, ev.addr, topo.sentinel.failoverTimeout);
        }
        if (ev.type.startsWith('-failover-abort') || ev.type === '+failover-end') fast?.cancel(ev.shard, ev.type);
        break;
      }
      default:
        break;
    }
    this.d.trigger(channel);
  }

  /** At most one garbage event per sentinel per second, with a count of those not logged. */
  private garbageSeen(sentinel: string, type: string, text: string, why: string): void {
    const g = this.garbage.get(sentinel) ?? { at: 0, suppressed: 0 };
    if (Date.now() - g.at >= 1000) {
      this.d.events.emit('sentinel-garbage', { sentinel, type, text, why, suppressed: g.suppressed });
      this.garbage.set(sentinel, { at: Date.now(), suppressed: 0 });
    } else {
      g.suppressed++;
      this.garbage.set(sentinel, g);
    }
  }
}
