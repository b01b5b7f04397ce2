/**
 * The options of the heap picture. Declared in the heap layer because
 * `heap.inspect(options)` takes them while the picture itself
 * (inspect/inspect.ts, the "./inspect" subpath) is loaded only when imported.
 * @module
 */

/** Options of the heap picture: `heap.inspect(options)` and `renderHeapSvg(heap, options)` of the "./inspect" subpath. */
export interface HeapSvgOptions {
  /** Title at the top. Default "hakmem heap". */
  title?: string;
  /** Cells per row of the memory map. Default 64. */
  columns?: number;
  /** Most rows of the memory map: beyond `columns × maxRows` pages, each cell stands for 2^k pages. Default 48. */
  maxRows?: number;
  /** Tiny SuperSlabs drawn one per row; the rest are counted. Default 24. */
  maxSuperSlabs?: number;
  /** Pool spans drawn per class; the rest are counted. Default 12. */
  maxSpansPerClass?: number;
}
