import cliProgress from 'cli-progress';

/**
 * Progress of long work: a live bar (rows, samples/s, ETA) on a TTY, and a few plain lines otherwise
 * (CI, pipes), so logs stay short. `quiet` silences everything.
 */
export interface Progress {
  /** Begins a task of `total` units (samples), shown under `label`. */
  start(total: number, label: string): void;
  /**
   * Reports `done` units finished so far (a running total, not an increment) and extra values to show (the live bar
   * shows `loss`; plain lines show them all).
   */
  update(done: number, extra?: Record<string, string | number>): void;
  /** Ends the task (removes the live bar). */
  stop(): void;
}

/**
 * A {@link Progress} writing to `stream` (default stderr): a live bar on a TTY (unless env `CI` is set), otherwise a
 * plain line at 25 %, 50 % and 75 % of each task; nothing at all with `quiet`.
 */
export function createProgress(opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { start() {}, update() {}, stop() {} };
  if (stream.isTTY && !process.env.CI) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{label} [{bar}] {percentage}% | {value}/{total} | {rate} samples/s | loss {loss} | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    let t0 = 0;
    return {
      start(total, label) {
        t0 = performance.now();
        bar.start(total, 0, { label, rate: '-', loss: '-' });
      },
      update(done, extra = {}) {
        const s = (performance.now() - t0) / 1000;
        bar.update(done, { rate: s > 0 ? Math.round(done / s) : '-', ...extra });
      },
      stop() {
        bar.stop();
      },
    };
  }
  // Non-TTY: one line per quarter.
  let total = 0;
  let label = '';
  let nextMark = 0;
  let t0 = 0;
  return {
    start(t, l) {
      total = t;
      label = l;
      nextMark = 0.25;
      t0 = performance.now();
    },
    update(done, extra = {}) {
      if (total <= 0 || done / total < nextMark || done >= total) return;
      nextMark += 0.25;
      const s = (performance.now() - t0) / 1000;
      const rate = s > 0 ? Math.round(done / s) : 0;
      const eta = rate > 0 ? ((total - done) / rate).toFixed(0) : '?';
      const rest = Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(' | ');
      stream.write(`${label} ${Math.round((100 * done) / total)}% | ${rate} samples/s | ${rest} | ETA ${eta}s\n`);
    },
    stop() {},
  };
}
