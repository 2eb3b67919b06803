import type { ConnectionField, ConnectionSettings } from '../../state/types.js';
import { parseSecretSetting, secretSettingKey, secretSettingText } from './secret-setting.js';

export const CONNECTION_FIELD_LABELS: Record<ConnectionField | 'mode', string> = {
  mode: 'mode',
  url: 'URL',
  'ssh.target': 'SSH target',
  'ssh.port': 'SSH port',
  'ssh.identityFile': 'SSH identity',
  'ssh.localPort': 'local port',
  'ssh.remotePort': 'remote port',
  tlsFingerprint: 'TLS pin',
  token: 'token',
  password: 'password',
};

/** The field as the operator edits it (a pin list is comma-separated). */
export function connectionFieldText(settings: ConnectionSettings, field: ConnectionField): string {
  switch (field) {
    case 'url':
      return settings.url;
    case 'ssh.target':
      return settings.ssh?.target ?? '';
    case 'ssh.port':
      return settings.ssh?.port?.toString() ?? '';
    case 'ssh.identityFile':
      return settings.ssh?.identityFile ?? '';
    case 'ssh.localPort':
      return settings.ssh?.localPort?.toString() ?? '';
    case 'ssh.remotePort':
      return settings.ssh?.remotePort?.toString() ?? '';
    case 'tlsFingerprint':
      return settings.tlsFingerprint.join(', ');
    case 'token':
    case 'password':
      return secretSettingText(settings[field]);
  }
}

/**
 * Applies one edited field, validating it the way the config schema will
 * (ports 0–65535, URL scheme ws/wss); an empty SSH target removes the tunnel.
 */
export function applyConnectionField(
  settings: ConnectionSettings,
  field: ConnectionField,
  text: string,
): { settings: ConnectionSettings } | { error: string } {
  const value = text.trim();
  switch (field) {
    case 'url': {
      if (value !== '' && !/^wss?:\/\/[^\s/]+/.test(value)) {
        return { error: `URL: expected ws://host:port or wss://host:port, got "${value}"` };
      }
      return { settings: { ...settings, url: value } };
    }
    case 'token':
    case 'password': {
      const parsed = parseSecretSetting(CONNECTION_FIELD_LABELS[field], text);
      if ('error' in parsed) return parsed;
      return { settings: { ...settings, [field]: parsed.setting } };
    }
    case 'tlsFingerprint': {
      const pins = value === '' ? [] : value.split(/[\s,]+/).filter(Boolean);
      return { settings: { ...settings, tlsFingerprint: pins } };
    }
    case 'ssh.target': {
      if (value === '') return { settings: { ...settings, ssh: undefined } };
      return { settings: { ...settings, ssh: { ...settings.ssh, target: value } } };
    }
    case 'ssh.identityFile':
      return withSsh(settings, field, (ssh) => ({ ...ssh, identityFile: value || undefined }));
    case 'ssh.port':
    case 'ssh.localPort':
    case 'ssh.remotePort': {
      let port: number | undefined;
      if (value !== '') {
        port = Number(value);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          return {
            error: `${CONNECTION_FIELD_LABELS[field]}: expected an integer 0-65535, got "${value}"`,
          };
        }
      }
      const key = field.slice('ssh.'.length) as 'port' | 'localPort' | 'remotePort';
      return withSsh(settings, field, (ssh) => ({ ...ssh, [key]: port }));
    }
  }
}

function withSsh(
  settings: ConnectionSettings,
  field: ConnectionField,
  change: (ssh: NonNullable<ConnectionSettings['ssh']>) => NonNullable<ConnectionSettings['ssh']>,
): { settings: ConnectionSettings } | { error: string } {
  if (!settings.ssh)
    return { error: `${CONNECTION_FIELD_LABELS[field]}: set the SSH target first` };
  return { settings: { ...settings, ssh: change(settings.ssh) } };
}

export function sameSettings(a: ConnectionSettings, b: ConnectionSettings): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(s: ConnectionSettings): unknown {
  const ssh = s.ssh
    ? Object.fromEntries(
        Object.entries(s.ssh)
          .filter(([, v]) => v !== undefined)
          .sort(([x], [y]) => x.localeCompare(y)),
      )
    : null;
  return [
    s.mode,
    s.url,
    ssh,
    s.tlsFingerprint,
    secretSettingKey(s.token),
    secretSettingKey(s.password),
  ];
}
