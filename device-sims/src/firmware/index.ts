export { handleFirmwareUpdate, type FirmwareContext, type FirmwareOutcome } from './update.js';
