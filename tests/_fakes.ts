/**
 * Test backends for the router and heap tests: named page-run backends with a
 * size limit and a switch that makes them refuse (return 0), so routing,
 * fallbacks and counters can be driven exactly. Not picked up as a test file.
 * @module
 */

import { MmapBackend } from "../backends/mmap/mod.ts";
import type {
  Backend,
  BackendContext,
  BackendFactory,
  BackendHealth,
  BackendStats,
  Capabilities,
  CheckLevel,
  CheckProblem,
} from "../router/box.ts";

/**
 * A backend that serves sizes up to `maxSize` with whole page runs marked with
 * its own page kind (it delegates to an mmap backend built on its context).
 * While `refusing` is true, every allocation returns 0.
 */
export class FakeBackend implements Backend {
  /** Its name and size limit; page aligned, no aligned allocation. */
  readonly capabilities: Capabilities;
  /** When true, alloc returns 0 as an exhausted backend would. */
  refusing = false;
  /** Allocations it was asked for, served or refused. */
  asked = 0;
  private readonly inner: MmapBackend;

  constructor(context: BackendContext, name: string, maxSize: number) {
    this.inner = new MmapBackend(context);
    this.capabilities = { ...this.inner.capabilities, name, maxSize, alignedAlloc: false };
  }

  alloc(size: number): number {
    this.asked++;
    return this.refusing ? 0 : this.inner.alloc(size);
  }
  free(ptr: number): void {
    this.inner.free(ptr);
  }
  owns(ptr: number): boolean {
    return this.inner.owns(ptr);
  }
  usableSize(ptr: number): number {
    return this.inner.usableSize(ptr);
  }
  health(): BackendHealth {
    return { ...this.inner.health(), name: this.capabilities.name };
  }
  stats(): BackendStats {
    return { ...this.inner.stats(), name: this.capabilities.name };
  }
  trim(): number {
    return this.inner.trim();
  }
  check(level: CheckLevel, problems: CheckProblem[]): void {
    const found: CheckProblem[] = [];
    this.inner.check(level, found);
    for (const problem of found) problems.push({ ...problem, where: this.capabilities.name });
  }
}

/** A factory for a {@linkcode FakeBackend} named `name` serving sizes up to `maxSize`. */
export function fakeBackend(name: string, maxSize: number): BackendFactory {
  return { name, create: (context: BackendContext): Backend => new FakeBackend(context, name, maxSize) };
}
