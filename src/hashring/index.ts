/**
 * twemproxy-exact key placement: which server of a nutcracker pool a key goes to. Keys are bytes.
 * Imports nothing else of redis-shard, so it can be used (and tested) on its own.
 */
export { HASH_NAMES, HASH_FUNCTIONS, hashKey, isHashName, type HashFn, type HashName } from './hashes.js';
export { ketamaPointCount, type PointCountFn } from './ketama.js';
export { ringName, compareNames } from './names.js';
export {
  buildRing,
  DISTRIBUTION_NAMES,
  RingConfigError,
  type DistributionName,
  type Ring,
  type RingOptions,
  type ServerSpec,
} from './ring.js';
export { ringFromNutcrackerYml, type NutcrackerRing, type NutcrackerServer } from './nutcracker-yml.js';
export { parseServerLine } from '../engine/nutcracker-servers.js';
