// Runs the Box API conformance suite against every backend in the registry.
import { REGISTRY } from "../backends/registry.ts";
import { resolveOptions } from "../options.ts";
import { runContractSuite } from "../testing/contract.ts";

for (const entry of REGISTRY) {
  const options = { ...entry.options };
  runContractSuite({ name: entry.name, factory: entry.factory(resolveOptions(options)), sizes: entry.sizes, options });
}
