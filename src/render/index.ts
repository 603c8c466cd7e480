export * from './redis-conf.js';
export * from './sentinel-conf.js';
export * from './nutcracker.js';
export { quote } from './quote.js';
export * from './nutcracker-edit.js';
export * from './nutcracker-ring.js';
export { sameRingYml } from './ring-compare.js';
export * from './haproxy.js';
