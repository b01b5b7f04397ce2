/**
 * The heap picture, a subpath export (`@hakmem/hakmem/inspect`; npm
 * `hakmem/inspect`): {@linkcode renderHeapSvg} draws a heap's memory as an
 * SVG image (page runs by owner, tiny's SuperSlabs and slabs, pool spans,
 * free space).
 *
 * The main entry does not load it. Importing this module also installs it as
 * what `heap.inspect()` draws with: without this import, `heap.inspect()`
 * throws a `HakmemError` with code `INVALID_OPTION` whose message names the
 * import to add.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { renderHeapSvg } from "./mod.ts"; // the "./inspect" entry
 *
 * const heap = createHeap();
 * heap.malloc(48);
 * assert.ok(renderHeapSvg(heap, { title: "one block" }).startsWith("<svg"));
 * assert.ok(heap.inspect().includes("tiny")); // the same picture, installed by the import
 * ```
 * @module
 */

import { installPicture } from "../heap/heap.ts";
import { renderHeapSvg } from "./inspect.ts";

export { renderHeapSvg } from "./inspect.ts";
export type { HeapSvgOptions, HeapToDraw } from "./inspect.ts";

installPicture(renderHeapSvg);
