/** systemd services for this host's parts, and the privileged installer of the agent's staged proxy config. */
export { renderUnits, unitNames, MARKER, type UnitFile, type UnitOptions, type UnitNames } from './units.js';
export {
  planServices, describePlan, installServices, uninstallServices, ownershipPlan,
  DEFAULT_DEST, DEFAULT_USER, DEFAULT_PREFIX,
  type ServicesOptions, type ServicesPlan, type InstallResult, type UninstallResult, type OwnershipChange,
} from './install.js';
export { installStaged, validateStaged, RESTART_MODES, type RestartMode, type InstallStagedOptions, type InstallStagedResult } from './install-staged.js';
export { systemdRunning, lookupAccount, lookupGroup, isRoot, type Account } from './system.js';
