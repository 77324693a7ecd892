// A browser terminal: xterm.js fitted to its container, with Unicode 11
// widths (emoji, CJK) and the clipboard on Ctrl+Shift+C / Ctrl+Shift+V
// (Cmd+C / Cmd+V on a Mac work as in any page). A terminal takes Tab for
// itself, so Ctrl+Shift+L leaves it for the page (leave()). A terminal
// cannot tell Ctrl+Shift+letter from Ctrl+letter, so these take nothing
// from the programs in it.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';

export const terminalTheme = {
  background: '#0b1020',
  foreground: '#dbe2f0',
  cursor: '#7dd3fc',
  cursorAccent: '#0b1020',
  selectionBackground: '#33507a',
  black: '#1b2236',
  red: '#f87171',
  green: '#4ade80',
  yellow: '#facc15',
  blue: '#60a5fa',
  magenta: '#c084fc',
  cyan: '#22d3ee',
  white: '#dbe2f0',
  brightBlack: '#64748b',
  brightRed: '#fca5a5',
  brightGreen: '#86efac',
  brightYellow: '#fde047',
  brightBlue: '#93c5fd',
  brightMagenta: '#d8b4fe',
  brightCyan: '#67e8f9',
  brightWhite: '#ffffff',
};

export const monoFont = 'ui-monospace, "SF Mono", "JetBrains Mono", "Cascadia Mono", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';

export function createTerminal(el, { readOnly = false, fit = true, cols, rows, label = 'Terminal', leave } = {}) {
  const term = new Terminal({
    allowProposedApi: true, // the Unicode 11 addon needs it
    cursorBlink: !readOnly,
    disableStdin: readOnly,
    fontFamily: monoFont,
    fontSize: 14,
    lineHeight: 1.15,
    scrollback: 10000,
    theme: terminalTheme,
    macOptionIsMeta: true,
    rightClickSelectsWord: true,
    ...(cols > 0 && rows > 0 ? { cols, rows } : {}),
  });
  const fitter = new FitAddon();
  term.loadAddon(fitter);
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  term.open(el);
  term.textarea?.setAttribute('aria-label', label);
  let ro = null;
  const refit = () => {
    if (!fit || !el.isConnected || el.clientWidth === 0) return;
    try {
      fitter.fit();
    } catch {
      /* not laid out yet */
    }
  };
  if (fit) {
    refit();
    ro = new ResizeObserver(() => requestAnimationFrame(refit));
    ro.observe(el);
  }
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
    if (e.code === 'KeyC') {
      copySelection(term);
      return false;
    }
    if (e.code === 'KeyV') {
      if (!readOnly) pasteInto(term);
      return false;
    }
    if (e.code === 'KeyL') {
      term.blur();
      leave?.();
      return false;
    }
    return true;
  });
  return {
    term,
    refit,
    dispose() {
      ro?.disconnect();
      term.dispose();
    },
  };
}

export async function copySelection(term) {
  const s = term.getSelection();
  if (!s) return false;
  try {
    await navigator.clipboard.writeText(s);
    return true;
  } catch {
    return false;
  }
}

export async function pasteInto(term) {
  try {
    const t = await navigator.clipboard.readText();
    if (t) term.paste(t);
    term.focus();
    return true;
  } catch {
    return false;
  }
}
