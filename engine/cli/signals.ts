// SIGINT/SIGTERM handling shared by every command.
import type { CliOptions } from './main.ts';

/**
 * SIGINT/SIGTERM (and opts.signal) abort `controller`; a second signal exits at once.
 * exitCode() is 130/143 once a signal arrived, else null.
 */
export function handleSignals(opts: CliOptions, announce: (sig: 'SIGINT' | 'SIGTERM') => void) {
  const controller = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | null = null;
  const code = (sig: 'SIGINT' | 'SIGTERM') => (sig === 'SIGINT' ? 130 : 143);
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (received) process.exit(code(sig)); // second signal: do not wait
    received = sig;
    announce(sig);
    controller.abort(new Error(sig));
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  if (opts.handleSignals !== false) {
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  }
  opts.signal?.addEventListener('abort', () => controller.abort(opts.signal!.reason), { once: true });
  return {
    controller,
    exitCode: (): number | null => (received ? code(received) : null),
    dispose() {
      if (opts.handleSignals === false) return;
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

