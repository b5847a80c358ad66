// uvsd's log output: where pino writes its lines (stdout, file descriptor 1). Written off the
// event loop (fs.write on libuv's threads, one write in flight), as pino's default destination
// did, but a write that fails never stops uvsd: its lines are dropped and counted.
//
// Before 2026-12-05 uvsd logged through pino's default destination (sonic-boom): a write that
// failed with anything but EPIPE (a full disk: ENOSPC, EDQUOT; EIO) was thrown as an uncaught
// exception, whose fatal() line then went through sonic-boom's flushSync, which retries every
// error but EAGAIN forever, 100 ms apart, on the main thread: uvsd stopped forwarding, stopped
// answering its control socket and ignored SIGTERM, forever (docs/resilience.md, "The log").

import { write as fsWrite, writeSync } from 'node:fs';
import type { LogOutputStatus } from '../control/protocol.js';

/** At most this many characters in one write (several lines joined). */
const CHUNK = 16 * 1024;
/** Lines waiting beyond this many characters (the reader of stdout stalled) are dropped, counted. */
const MAX_QUEUED = 1 << 20;
/** A write refused for now (EAGAIN: a non-blocking pipe full) is tried again after this long. */
const RETRY_MS = 100;

type Write = (fd: number, buf: Buffer, cb: (err: NodeJS.ErrnoException | null, written: number) => void) => void;

const defaultWrite: Write = (fd, buf, cb) => fsWrite(fd, buf, 0, buf.length, null, cb);

/** What an error is called in --status and the log: its code and what it means (`ENOSPC: no space left on device`). */
function errorText(err: NodeJS.ErrnoException): string {
  return err.message.replace(/^([A-Z0-9]+): (.*?), write$/, '$1: $2');
}

/**
 * pino's destination (an object with write()): lines queued and written in order; a write that
 * fails (any code: ENOSPC, EDQUOT, EIO, EPIPE, EBADF ...) drops the lines it carried and counts
 * them (`dropped`; `uvsadm --status` log_lines_dropped, uvs_log_lines_dropped_total), says so once
 * on stderr (`say`) for each spell of failures, and the next line is tried again: logging resumes
 * by itself once a write succeeds (`onBack` is told how many lines were lost). write() never
 * throws and never blocks; flushSync() (pino's fatal, the process's exit) writes what is queued
 * with one attempt per chunk and never waits or retries.
 */
export class LogOutput {
  private queue: string[] = [];
  private head = 0;
  private queuedChars = 0;
  private inFlight = false;
  private status: LogOutputStatus = { dropped: 0 };
  /** Told when a write succeeds after failures: how many lines were lost, and the last error. */
  onBack: ((dropped: number, error: string) => void) | undefined;
  private droppedAtFailure = 0;
  /** drained()'s callers, told once nothing is queued nor in flight. */
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly fd = 1,
    private readonly say: (line: string) => void = (line) => {
      try {
        writeSync(2, line);
      } catch {
        // stderr on the same full disk: nothing more to do
      }
    },
    private readonly writeFd: Write = defaultWrite,
  ) {}

  /** pino's call, one line each. */
  write(line: string): boolean {
    if (this.queuedChars + line.length > MAX_QUEUED) {
      this.status.dropped++;
      return true;
    }
    this.queue.push(line);
    this.queuedChars += line.length;
    if (!this.inFlight) this.next();
    return true;
  }

  /** Lines dropped so far, and while writes fail the error and since when (ms, wall clock). */
  state(): LogOutputStatus {
    return { ...this.status };
  }

  /** The lines queued, up to CHUNK characters (at least one line), taken off the queue. */
  private take(): { text: string; lines: number } {
    const start = this.head;
    let chars = 0;
    while (this.head < this.queue.length && (this.head === start || chars + this.queue[this.head]!.length <= CHUNK)) chars += this.queue[this.head++]!.length;
    const text = this.head - start === 1 ? this.queue[start]! : this.queue.slice(start, this.head).join('');
    const lines = this.head - start;
    this.queuedChars -= chars;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return { text, lines };
  }

  private next(): void {
    if (this.head >= this.queue.length) return;
    const { text, lines } = this.take();
    this.inFlight = true;
    this.send(Buffer.from(text), lines);
  }

  private send(buf: Buffer, lines: number): void {
    this.writeFd(this.fd, buf, (err, written) => {
      if (err !== null && (err.code === 'EAGAIN' || err.code === 'EBUSY')) {
        setTimeout(() => this.send(buf, lines), RETRY_MS).unref();
        return;
      }
      if (err === null && written < buf.length) {
        this.send(buf.subarray(written), lines); // a partial write: the rest
        return;
      }
      this.inFlight = false;
      if (err !== null) this.failed(err, lines);
      else this.succeeded();
      this.next();
      if (!this.inFlight && this.idleWaiters.length > 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  /**
   * Resolves once every line queued is written (or dropped by a failed write), or after
   * timeoutMs, whichever comes first: uvsd's stop waits for its last lines before the exit, whose
   * flushSync tries once and never waits. Before 2026-12-05 the exit came at once: with stdout a
   * pipe that was full then (a journal or a reader late by a moment; node makes stderr, often
   * the same pipe, non-blocking) that one try met EAGAIN and `uvsd stopped` was lost.
   */
  drained(timeoutMs: number): Promise<void> {
    if (!this.inFlight && this.head >= this.queue.length) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.idleWaiters.push(done);
    });
  }

  private failed(err: NodeJS.ErrnoException, lines: number): void {
    this.status.dropped += lines;
    const error = errorText(err);
    if (this.status.failingSince === undefined) {
      this.status.failingSince = Date.now();
      this.droppedAtFailure = this.status.dropped - lines;
      this.say(`uvsd: cannot write the log to file descriptor ${this.fd} (${error}): log lines are dropped and counted (uvsadm --status log_lines_dropped) until a write succeeds; uvsd goes on\n`);
    }
    this.status.error = error;
  }

  private succeeded(): void {
    if (this.status.failingSince === undefined) return;
    const lost = this.status.dropped - this.droppedAtFailure;
    const error = this.status.error ?? '';
    this.status = { dropped: this.status.dropped };
    this.onBack?.(lost, error);
  }

  /**
   * Write what is queued now, synchronously: pino's fatal() and the process's exit. One attempt
   * per chunk; a failure (any, EAGAIN too) drops the rest, counted. Never sleeps, never retries.
   * A write in flight is left to its thread (the lines after it may come out before it).
   */
  flushSync(): void {
    while (this.head < this.queue.length) {
      const { text, lines } = this.take();
      const buf = Buffer.from(text);
      try {
        let off = 0;
        while (off < buf.length) off += writeSync(this.fd, buf, off);
      } catch (e) {
        this.failed(e as NodeJS.ErrnoException, lines + this.queue.length - this.head);
        this.queue = [];
        this.head = 0;
        this.queuedChars = 0;
        return;
      }
    }
  }
}
