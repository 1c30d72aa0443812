// Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds in a log or a pipe.

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** One reading of a phase: `fraction` 0..1 when known, and what to show after the bar. */
export interface ProgressReading {
  phase: string;
  fraction: number | null;
  detail: string;
}

export interface ProgressOptions {
  /** Plain lines at most this often (ms) when the stream is not a terminal. */
  plainEveryMs?: number;
  /** Redraws at most this often (ms) on a terminal. */
  redrawEveryMs?: number;
}

/** A progress display on `stream`, or one that shows nothing when `stream` is null. */
export function createProgress(stream: ProgressStream | null, options: ProgressOptions = {}) {
  const tty = stream?.isTTY === true;
  const every = tty ? (options.redrawEveryMs ?? 100) : (options.plainEveryMs ?? 2000);
  let lastAt = 0;
  let lastPhase = '';
  let drawn = false;

  const bar = (fraction: number, width: number) => {
    const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
    return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
  };

  function render(reading: ProgressReading, force: boolean): void {
    if (!stream) return;
    const now = Date.now();
    const phaseChanged = reading.phase !== lastPhase;
    if (!force && !phaseChanged && now - lastAt < every) return;
    lastAt = now;
    const percent = reading.fraction === null ? '' : `${Math.floor(reading.fraction * 100)}% `;
    if (tty) {
      if (phaseChanged && drawn) stream.write('\n');
      const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 60));
      const shown = reading.fraction === null ? '' : `${bar(reading.fraction, width)} `;
      stream.write(`\r\x1b[K${reading.phase.padEnd(9)} ${shown}${percent}${reading.detail}`);
      drawn = true;
    } else {
      stream.write(`${reading.phase} ${percent}${reading.detail}\n`);
    }
    lastPhase = reading.phase;
  }

  return {
    /** Shows `reading` unless the last one was drawn too recently (a new phase always shows). */
    update(reading: ProgressReading): void {
      render(reading, false);
    },
    /** Shows the final reading of a phase and ends its line. */
    done(reading: ProgressReading): void {
      render(reading, true);
      if (tty && stream) stream.write('\n');
      drawn = false;
      lastPhase = '';
    },
  };
}

export type Progress = ReturnType<typeof createProgress>;
