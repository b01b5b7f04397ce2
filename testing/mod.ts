/**
 * Test tools for backends: the Box API conformance suite, the builder that
 * puts a backend in a heap of its own, and a seeded random generator.
 *
 * @example Holding your own backend to the contract
 * ```ts ignore
 * import { runContractSuite } from "@hakmem/hakmem/testing";
 * import { myBackend } from "./my_backend.ts";
 * runContractSuite({ name: "mine", factory: myBackend, sizes: { min: 1, max: 4096 } });
 * ```
 * @module
 */

export { buildBackend, runContractSuite } from "./contract.ts";
export type { BackendUnderTest, ContractTarget } from "./contract.ts";
export { Random } from "./random.ts";
export { SharedQueue } from "./shared_queue.ts";
export { errorCodeOf, expectHakmemError } from "./expect.ts";
