/** What a user asks for. One export line per module; each module's own exports say what it offers. */
export * from './status.js';
export * from './data.js';
export { askSentinels, sentinelVerdict, type SentinelView, type SentinelShardView, type MasterVerdict } from './sentinel-view.js';
export { parseReplicationInfo, type ReplicationInfo } from '../engine/index.js';
export * from './bench-throughput.js';
export * from './doctor.js';
export { startAgentHttp, type AgentHttp } from './observe.js';
