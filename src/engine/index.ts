/**
 * What the engines say, read one way everywhere: parsers of their replies (ROLE, INFO replication, SENTINEL
 * replies and events, RESP, nutcracker.yml server lines, /proc/PID/stat), the one sentinel query and the one
 * election rule. Every layer above topology may import this; it imports only topology.
 */
export * from './address.js';
export * from './election.js';
export * from './info.js';
export * from './nutcracker-servers.js';
export * from './proc-stat.js';
export * from './resp.js';
export * from './role.js';
export * from './sentinel-conf.js';
export * from './sentinel-query.js';
export * from './sentinel-replies.js';
