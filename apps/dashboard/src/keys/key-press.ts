import type { Key } from 'ink';

/**
 * A key as the binding table names it: `a`, `N`, `?`, `enter`, `esc`, `tab`,
 * `shift+tab`, `up`, `pgdn`, `ctrl+c`. `text` keeps what was typed (a paste
 * arrives as one string) for text fields.
 */
export type KeyPress = { name: string; text: string };

export function keyPressFrom(input: string, key: Key): KeyPress {
  return { name: keyName(input, key), text: input };
}

/**
 * A chunk of input as separate key presses. Terminals deliver fast typing,
 * `tmux send-keys` and pastes as one chunk; each character must still reach
 * the binding table on its own (`:` opens the command line, the rest is typed
 * into it, a carriage return submits it).
 */
export function keyPressesFrom(input: string, key: Key): KeyPress[] {
  const special =
    key.escape ||
    key.ctrl ||
    key.meta ||
    key.upArrow ||
    key.downArrow ||
    key.leftArrow ||
    key.rightArrow ||
    key.pageUp ||
    key.pageDown ||
    key.home ||
    key.end ||
    key.return ||
    key.tab ||
    key.backspace ||
    key.delete;
  if (special || [...input].length <= 1) return [keyPressFrom(input, key)];
  return [...input].map((ch) => {
    if (ch === '\r' || ch === '\n') return { name: 'enter', text: ch };
    if (ch === '\t') return { name: 'tab', text: ch };
    if (ch === '\u007f' || ch === '\b') return { name: 'backspace', text: ch };
    // a control key typed in the same burst (Ctrl-U right after `/`) is still that key
    const code = ch.charCodeAt(0);
    if (code >= 1 && code <= 26)
      return { name: `ctrl+${String.fromCharCode(code + 96)}`, text: ch };
    return { name: ch, text: ch };
  });
}

function keyName(input: string, key: Key): string {
  if (key.escape) return 'esc';
  if (key.return) return 'enter';
  if (key.tab) return key.shift ? 'shift+tab' : 'tab';
  if (key.upArrow) return 'up';
  if (key.downArrow) return 'down';
  if (key.leftArrow) return 'left';
  if (key.rightArrow) return 'right';
  if (key.pageUp) return 'pgup';
  if (key.pageDown) return 'pgdn';
  if (key.home) return 'home';
  if (key.end) return 'end';
  // terminals disagree on which byte the Backspace key sends (0x7f or 0x08); Ink calls one "delete"
  if (key.backspace || key.delete) return 'backspace';
  if (key.ctrl && input) return `ctrl+${input.toLowerCase()}`;
  return input;
}

/** A printable character or a paste: something a text field should take as typed text. */
export function isTypedText(press: KeyPress): boolean {
  if (press.text === '' || press.name.startsWith('ctrl+')) return false;
  // control characters (other than a pasted newline or tab) are never text
  for (const ch of press.text) {
    const code = ch.charCodeAt(0);
    if ((code < 0x20 && ch !== '\n' && ch !== '\r' && ch !== '\t') || code === 0x7f) return false;
  }
  return true;
}

/** How a key is written in the footer and help. */
export function keyLabel(name: string): string {
  switch (name) {
    case 'up':
      return '↑';
    case 'down':
      return '↓';
    case 'left':
      return '←';
    case 'right':
      return '→';
    case 'shift+tab':
      return 'S-tab';
    default:
      return name;
  }
}
