/**
 * A credential as the Connection pane edits it. The pane prefers a reference
 * (`file:<path>`, `env:<NAME>`) that keeps the secret out of the config; a
 * secret typed in is held as a `TypedSecret`, which no screen, log line,
 * JSON dump or test snapshot can print.
 */
export class TypedSecret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself, for the one place that needs it: the connection. */
  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return '(hidden)';
  }

  toString(): string {
    return '(hidden)';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'TypedSecret (hidden)';
  }
}

export type SecretSetting =
  | { from: 'file'; path: string }
  | { from: 'env'; name: string }
  | { from: 'inline'; secret: TypedSecret }
  /** Cleared by the operator: saving removes it from the config. */
  | { from: 'none' };

export type SecretKind = 'token' | 'password';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether what is being typed names a secret (shown as typed) or is one (masked). */
export function isSecretReference(text: string): boolean {
  return /^(file|env):/.test(text.trimStart());
}

/** What a credential field shows while it is typed: references as they are, secrets as dots. */
export function maskedSecretInput(text: string): string {
  return isSecretReference(text) ? text : '•'.repeat([...text].length);
}

/** `file:~/gw.token`, `env:GW_TOKEN`, or the secret itself; empty clears it. */
export function parseSecretSetting(
  label: string,
  text: string,
): { setting: SecretSetting } | { error: string } {
  const value = text.trim();
  if (value === '') return { setting: { from: 'none' } };
  if (value.startsWith('file:')) {
    const path = value.slice('file:'.length).trim();
    if (path === '')
      return { error: `${label}: file: needs a path, as in file:~/.loopgate/remote-token` };
    return { setting: { from: 'file', path } };
  }
  if (value.startsWith('env:')) {
    const name = value.slice('env:'.length).trim();
    if (!ENV_NAME.test(name))
      return { error: `${label}: env: needs a variable name, as in env:LOOPGATE_REMOTE_TOKEN` };
    return { setting: { from: 'env', name } };
  }
  return { setting: { from: 'inline', secret: new TypedSecret(value) } };
}

/** The field's text when editing starts: a reference to change, never a secret to reveal. */
export function secretSettingText(setting: SecretSetting | undefined): string {
  if (setting?.from === 'file') return `file:${setting.path}`;
  if (setting?.from === 'env') return `env:${setting.name}`;
  return '';
}

/** The pane's line for it. */
export function describeSecretSetting(setting: SecretSetting | undefined): string {
  switch (setting?.from) {
    case 'file':
      return `from file ${setting.path}`;
    case 'env':
      return `from $${setting.name}`;
    case 'inline':
      return '•••••••• (typed; w saves it inline — prefer file: or env:)';
    default:
      return '';
  }
}

/** For comparing drafts in memory only; never shown. */
export function secretSettingKey(setting: SecretSetting | undefined): string {
  switch (setting?.from) {
    case 'file':
      return `file:${setting.path}`;
    case 'env':
      return `env:${setting.name}`;
    case 'inline':
      return `inline:${setting.secret.reveal()}`;
    default:
      return '';
  }
}
