/** Moving keys between shards online: plan, copy, dirty tracking, cut, cleanup (notes/resharding.md). */
export { startReshard, resumeReshard, abortReshard, type ReshardResult } from './commands.js';
export { planReshard, type ReshardPlan, type PlanFlow } from './plan.js';
export type { ReshardDeps, ReshardEvent } from './deps.js';
export { readState, statePath, PHASES, beforeCommit, type ReshardState, type Phase } from './state.js';
export { placement, describeChange, type Placement, type RingChange } from './rings.js';
