export { setJson5Member } from './json5-edit.js';
export {
  EMPTY_SETTINGS,
  localGatewayUrl,
  readConnectionSettings,
  resolveSecretSetting,
  type SaveResult,
  saveConnectionSettings,
  settingsFromConfig,
} from './remote-settings.js';
