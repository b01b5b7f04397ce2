/**
 * How tiny gets its slab sources: handed in by whoever assembles the heap
 * (backends/registry.ts for the built-in ones), so tiny imports no source
 * and no source imports tiny. Both sides meet here and in the slab layout
 * (`./slab.ts`), which belong to no backend.
 * @module
 */

import type { BackendContext, SlabSource } from "../../router/box.ts";

/** The slab sources one tiny backend works with, built over its context. */
export interface SlabSources {
  /**
   * Every source, at the index its SuperSlabs carry in their SS_SOURCE word
   * (see `./slab.ts`), so tiny gives an empty slab back to the source it came
   * from.
   */
  readonly all: readonly SlabSource[];
  /** The source tiny asks first for a slab. */
  readonly primary: SlabSource;
  /** The sources whose counters tiny's `health()` reports (the primary first), each prefixed with its name. */
  readonly reported: readonly SlabSource[];
}

/**
 * Builds tiny's slab sources over the backend's context (the memory, the page
 * heap, the records and tiny's header area, which the sources share with it).
 */
export type SlabSourceFactory = (context: BackendContext) => SlabSources;
