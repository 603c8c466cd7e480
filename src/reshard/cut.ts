import { CheckFailedError, TransientError } from '../errors.js';
import { withClient, writeExpectedRings } from '../runtime/index.js';
import { CopyPhase } from './copy-pass.js';
import { renderNew } from './plan.js';
import { exitHook, writeState } from './state.js';

/** The cut: pause (or proxy stop), last drain, WAIT, the new proxy config written (the commit), unpause. */
export class CutPhase extends CopyPhase {

  protected async copyAndCut(): Promise<void> {
    if (this.state.phase !== 'copying') this.setPhase('copying');
    for (const s of this.state.sources) await this.master(s, true);
    await this.enableEvents();
    for (const s of this.state.sources) await this.track(s);
    await Promise.all(this.state.sources.map((s) => this.passWithRetry(s, this.resumed)));
    for (let attempt = 1; ; attempt++) {
      await this.dirtyUntilSmall();
      this.setPhase('cutting');
      this.state.cut.attempts++;
      try {
        await this.cut(attempt);
        return;
      } catch (e) {
        if (this.state.phase !== 'cutting') throw e;
        if (attempt >= 10) throw e;
        this.deps.emit({ type: 'cut-retry', attempt, reason: (e as Error).message });
        this.state.phase = 'copying';
        writeState(this.topo.stateDir, this.state);
        await this.refreshAfterFault();
        for (const s of this.state.sources) if (this.trackers.get(s)?.lost) await this.passWithRetry(s, true);
      }
    }
  }


  /**
   * The pause must end well before nutcracker's timeout fails queued requests and before Sentinel's down-after
   * (its PINGs queue behind a paused PUBLISH on the same connection). The drain gets 60% of this; the switch a
   * fresh pause of this length: at most 1.6 x budget in all, half of min(timeout, down-after) at the most.
   */
  protected pauseBudgetMs(): number {
    return Math.max(100, Math.min(1000, Math.floor(Math.min(this.topo.proxy.timeout, this.topo.sentinel.downAfterMilliseconds) / 3.2)));
  }


  protected async cut(attempt: number): Promise<void> {
    const budget = this.pauseBudgetMs();
    const proxyStop = this.state.sources.some((s) => this.state.destinations.includes(s));
    const extra: Record<string, string> = {};
    for (const a of this.state.addedShards) extra[a] = await this.master(a);
    // Every proxy's config is checked before anything pauses (the check is cached by content): the same ring, but
    // each proxy's own listen address and (mode haproxy) frontends.
    const views = this.deps.views;
    const prechecks: string[] = [];
    for (const [i, v] of views.entries()) {
      const text = renderNew(v, this.deps.liveMasters(this.deps.liveYml(i), i), this.deps.password, extra);
      const bad = await this.deps.check(text, i);
      if (bad) throw new CheckFailedError(`the new proxy config${this.ofProxy(i)} fails nutcracker -t: ${bad}`);
      prechecks.push(text);
    }
    const sources = await Promise.all(this.state.sources.map(async (s) => ({ s, c: await this.client(s) })));
    let pausedAt = 0;
    let pausedAtEpoch = 0;
    let drainMs = 0;
    let unpaused = false;
    let drained = 0;
    const unpause = async () => {
      if (unpaused) return;
      unpaused = true;
      await Promise.all(sources.map(({ c }) => c.call('CLIENT', 'UNPAUSE').catch(() => {})));
    };
    try {
      await this.deps.switchProxy(async (liveTexts) => {
        const texts: string[] = [];
        for (const [i, liveText] of liveTexts.entries()) {
          const live = this.deps.liveMasters(liveText, i);
          for (const s of this.state.sources) {
            if (live[s] !== undefined && live[s] !== this.masters.get(s)) {
              throw new TransientError(`shard ${s}: the proxy${this.ofProxy(i)} now sends to ${live[s]}, not ${this.masters.get(s)} (a failover); the cut starts over`);
            }
          }
          const text = renderNew(views[i]!, live, this.deps.password, extra);
          if (text !== prechecks[i]) {
            const why = await this.deps.check(text, i);
            if (why) throw new CheckFailedError(`the new proxy config${this.ofProxy(i)} fails nutcracker -t: ${why}`);
          }
          texts.push(text);
        }
        // Keys written while the lock was taken and the new HAProxy started (up to a second on a loaded machine) are
        // copied now, before the pause, so the drain inside it has only the last milliseconds' writes. In proxy-stop
        // mode the drain runs with the proxy stopped, which clients see as a stall just the same; and there every key
        // the copy wrote to a shard was also an event on it, so this barrier is where the subscriptions catch up.
        await Promise.all([...this.trackers.values()].map((t) => t.barrier()));
        await this.drainOnce(false, true);
        pausedAt = performance.now();
        pausedAtEpoch = Date.now();
        await Promise.all(sources.map(({ c }) => c.call('CLIENT', 'PAUSE', String(budget), 'WRITE')));
        if (proxyStop) {
          // A source is also a destination, and a paused destination takes no RESTORE: stop the proxy instead
          // (under the apply lock, so the agent does not restart it), then let writes through again: nothing
          // writes but our own copies.
          await this.deps.stopProxy();
          await unpause();
        }
        for (;;) {
          await Promise.all([...this.trackers.values()].map((t) => t.barrier()));
          const n = await this.drainOnce(false, false);
          drained += n;
          if (n === 0) break;
        }
        await Promise.all(this.state.destinations.map(async (d) => {
          const c = await this.client(d);
          const replicas = (this.state.shardInstances[d]?.length ?? 1) - 1;
          if (replicas === 0) return;
          const acked = Number(await c.call('WAIT', String(replicas), '100'));
          if (acked < Math.min(replicas, Math.max(1, this.topo.redis.minReplicasToWrite))) {
            throw new TransientError(`shard ${d}: only ${acked} of ${replicas} replicas acknowledged the copies`);
          }
        }));
        for (const t of this.trackers.values()) if (t.lost) throw new TransientError(`lost the keyspace subscription of ${t.shard} during the cut`);
        const held = performance.now() - pausedAt;
        drainMs = Math.round(held * 10) / 10;
        if (!proxyStop) {
          if (held > budget * 0.6) throw new TransientError(`the drain took ${Math.round(held)} ms, too close to the ${budget} ms pause; the cut starts over`);
          // A fresh pause for the switch (re-issuing extends it): the config write (fsync) and the proxy restart
          // on a loaded machine must not outlast it, or a write through the old proxy could reach a source.
          await Promise.all(sources.map(({ c }) => c.call('CLIENT', 'PAUSE', String(budget), 'WRITE')));
          // Every old proxy goes before the first write, not after it: an fsync slower than the pause must not let a
          // write through the old ring reach a source. The appliers start the new ones after the writes.
          if (this.topo.agent.apply === 'supervise' || this.topo.agent.apply === 'haproxy') await this.deps.stopProxy();
        }
        // The point of no return is the atomic write of the first of these texts as a proxy config, right after we
        // return: from then on whoever (re)starts a proxy starts it on the new ring, and a resume only goes forward
        // (and switches the proxies still on the old one). The agents must take the new ring as right from the
        // moment it is written (before we record it); rings are compared by shard names and weights, so proxy 0's
        // texts stand for every proxy's.
        writeExpectedRings(this.topo.stateDir, [liveTexts[0]!, texts[0]!]);
        exitHook('switching');
        return texts;
      }, extra);
    } catch (e) {
      if (!this.liveIsNewRing()) {
        writeExpectedRings(this.topo.stateDir, [this.state.oldYml]);
        await unpause();
        throw e;
      }
      // The new config is written but did not take effect (a failed restart): forward only, retried.
      this.deps.emit({ type: 'info', message: `the new proxy config is written but ${(e as Error).message}; retrying the switch` });
      await this.switchAfterCommit();
    }
    // Unpaused before the commit is recorded (an fsync): the live config is the commit, and a resume that finds
    // it records the commit itself.
    await unpause();
    const pauseMs = Math.round((performance.now() - pausedAt) * 10) / 10;
    this.state.cut.pauseMs = pauseMs;
    this.recordCommit();
    this.deps.emit({ type: 'cut', attempt, pauseMs, drained, mode: proxyStop ? 'proxy-stop' : 'pause', drainMs, pausedAtEpochMs: pausedAtEpoch });
    this.closeTrackers();
    await this.deps.restartAgent().catch(() => {});
  }


  /** " of proxy LISTEN" when the cut switches several proxies (messages name which), else nothing. */
  protected ofProxy(i: number): string {
    return this.deps.views.length > 1 ? ` of proxy ${this.deps.views[i]!.proxy.listen}` : '';
  }


  protected async switchAfterCommit(): Promise<void> {
    const extra: Record<string, string> = {};
    for (const a of this.state.addedShards) extra[a] = await this.master(a);
    for (let attempt = 1; ; attempt++) {
      try {
        // Every proxy still on the old ring (or whose config a crash left unwritten) is switched; the others are kept.
        await this.deps.switchProxy(async (liveTexts) => liveTexts.map((liveText, i) => {
          const text = renderNew(this.deps.views[i]!, this.deps.liveMasters(liveText, i), this.deps.password, extra);
          return text === liveText ? null : text;
        }), extra);
        break;
      } catch (e) {
        if (attempt >= 10) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // A kill between commit and unpause leaves the pause to run out by itself (it is bounded); unpause anyway.
    for (const s of this.state.sources) {
      await withClient(await this.master(s, true), this.deps.password, (c) => c.call('CLIENT', 'UNPAUSE'), { timeoutMs: 2000 }).catch(() => {});
    }
    await this.deps.restartAgent().catch(() => {});
  }
}
