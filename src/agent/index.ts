/** The agent: keeps nutcracker pointed at the masters the sentinels elect (design.md). */
export { Agent, startAgent, type AgentOptions } from './agent.js';
export { PassScheduler, type SchedulerOptions } from './scheduler.js';
export {
  analyze, decideShard, majorityOf, addressesToProbe,
  type AnalyzeInput, type Analysis, type ShardInput, type ShardDecision, type SentinelAnswer, type RoleProbe, type HoldReason,
} from './analyze.js';
export { ConfigApplier, sha256, type ApplyInput, type ApplyResult, type BaseConfig } from './apply.js';
export { ApplyLock } from './apply-lock.js';
export { fileEventSink, memoryEventSink, type EventSink } from './events.js';
export { FastPath, type FastPathDeps } from './fast-path.js';
export { ProxySupervisor, CONF_SHA_ENV, type RestartTimings } from './proxy.js';
export { exponentialBackoff, SENTINEL_RECONNECT, APPLY_RETRY, type RetryPolicy, type BackoffOptions } from './retry.js';
export { probeRole } from './role-probe.js';
export { notifyTargets, parseNotifyArgs, runNotify, NOTIFY_EXIT, type NotifyArgs, type NotifyResult } from './notify.js';
export { decideFence, confirmedMaster, unfenceOnMajority, type FenceSettings, type FenceDecision, type FenceShardInput } from './fence.js';
