/** The agent's read-only HTTP side (design.md: http/): /metrics, the dashboard, server-sent events. */
export { AgentObserver, type ObserverOptions, type DashboardState } from './observer.js';
export { ObserveServer, type HttpOptions } from './server.js';
export { FailoverFeed, type FailoverRow, type FeedListener } from './failover-feed.js';
export { AgentMetrics, DURATION_PHASES, FAILOVER_PATHS } from './metrics.js';
export { NutcrackerAccumulator, parseNutcrackerStats, readNutcrackerStats, type NutcrackerReading, type NutcrackerTotals } from './nutcracker-stats.js';
export { EventHub } from './sse.js';
export { LogFollower } from './log-follower.js';
export { sourcesOf, type StatusFacts, type ShardFacts, type InstanceFacts, type SourceResult } from './facts.js';
export { readHttpToken } from './token.js';
