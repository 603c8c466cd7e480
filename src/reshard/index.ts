/** Moving keys between shards online: plan, copy, dirty tracking, cut, cleanup (notes/resharding.md). */
export { planReshard, startReshard, resumeReshard, abortReshard, type ReshardDeps, type ReshardEvent, type ReshardPlan, type PlanFlow, type ReshardResult } from './run.js';
export { readState, statePath, PHASES, beforeCommit, type ReshardState, type Phase } from './state.js';
export { placement, describeChange, type Placement, type RingChange } from './rings.js';
