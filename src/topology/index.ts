export * from './address.js';
export * from './schema.js';
export * from './defaults.js';
export * from './load.js';
export * from './paths.js';
export * from './password.js';
export * from './proxies.js';
