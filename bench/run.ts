/**
 * The benchmark suite's command: runs the workloads on every contender, prints
 * a markdown table per workload, and writes `bench/out/<runtime>.json` (every
 * figure, the runtime, the machine, the date) and `bench/out/<runtime>.svg`.
 *
 * ```sh
 * deno run -A bench/run.ts [--quick] [--workload name,...] [--contenders name,...] [--rounds N] [--seed N] [--out bench/out] [--readme]
 * bun bench/run.ts [same flags]
 * ```
 *
 * `--quick` runs every workload with tiny counts and one round, and writes
 * `<runtime>-quick.json` / `.svg` so real figures are never overwritten by it.
 * `--workload` runs some workloads; the figures of the others already in the
 * output file are kept (each workload carries its own date). `--contenders`
 * runs only the contenders named (e.g. `hakmem,floor (API)`), for a quick
 * comparison: its output goes to `<runtime>-some.json` so the full figures
 * stay whole. `--readme` then
 * rewrites README.md's benchmark section (see bench/readme_table.ts).
 * @module
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { formatReport, renderSvg } from "./report.ts";
import { type BenchReport, runBench } from "./runner.ts";
import { updateReadme } from "./readme_table.ts";
import { WORKLOADS } from "./workloads.ts";

/** The command line, parsed. */
export interface RunArguments {
  /** Tiny counts, one round. */
  quick: boolean;
  /** Workloads to run (all when absent). */
  workloads?: string[];
  /** Contenders to run (all when absent). */
  contenders?: string[];
  /** Rounds per workload. */
  rounds?: number;
  /** Seed of every trace. */
  seed: number;
  /** Output folder. */
  out: string;
  /** Rewrite README.md's benchmark section afterwards. */
  readme: boolean;
}

const USAGE =
  "usage: bench/run.ts [--quick] [--workload name,...] [--contenders name,...] [--rounds N] [--seed N] [--out bench/out] [--readme]";

/** Parses the flags; throws with the usage line on anything it does not know. */
export function parseArguments(args: string[]): RunArguments {
  const parsed: RunArguments = { quick: false, seed: 1, out: join("bench", "out"), readme: false };
  for (let index = 0; index < args.length; index++) {
    const [flag, inline] = args[index].split("=", 2) as [string, string | undefined];
    const value = () => {
      const text = inline ?? args[++index];
      if (text === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return text;
    };
    const positive = (text: string) => {
      const number = Number(text);
      if (!Number.isSafeInteger(number) || number < 1) {
        throw new Error(`${flag} must be a positive integer, got ${JSON.stringify(text)}\n${USAGE}`);
      }
      return number;
    };
    if (flag === "--quick") parsed.quick = true;
    else if (flag === "--readme") parsed.readme = true;
    else if (flag === "--workload" || flag === "--workloads") {
      parsed.workloads = value().split(",").map((name) => name.trim()).filter(Boolean);
    } else if (flag === "--contenders" || flag === "--contender") {
      parsed.contenders = value().split(",").map((name) => name.trim()).filter(Boolean);
    } else if (flag === "--rounds") parsed.rounds = positive(value());
    else if (flag === "--seed") parsed.seed = positive(value());
    else if (flag === "--out") parsed.out = value();
    else if (flag === "--help" || flag === "-h") throw new Error(USAGE);
    else throw new Error(`unknown argument ${JSON.stringify(args[index])}\n${USAGE}`);
  }
  return parsed;
}

/** Keeps the workloads of `previous` that `report` did not run (same runtime, same mode). */
function mergeWithPrevious(report: BenchReport, path: string): BenchReport {
  if (!existsSync(path)) return report;
  let previous: BenchReport;
  try {
    previous = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return report;
  }
  if (previous.quick !== report.quick || !Array.isArray(previous.workloads)) return report;
  const ran = new Set(report.workloads.map((workload) => workload.name));
  const kept = previous.workloads.filter((workload) => !ran.has(workload.name));
  if (kept.length === 0) return report;
  const order = (name: string) => WORKLOADS.findIndex((workload) => workload.name === name);
  const workloads = [...report.workloads, ...kept].sort((a, b) => order(a.name) - order(b.name));
  return { ...report, workloads };
}

function main(args: string[]): void {
  const options = parseArguments(args);
  const report = runBench({
    quick: options.quick,
    rounds: options.rounds,
    workloads: options.workloads,
    contenders: options.contenders,
    seed: options.seed,
    log: (line) => console.error(line),
  });
  console.log(formatReport(report));
  mkdirSync(options.out, { recursive: true });
  const base = join(options.out, `${report.runtime.name}${options.quick ? "-quick" : ""}${options.contenders ? "-some" : ""}`);
  const merged = mergeWithPrevious(report, `${base}.json`);
  writeFileSync(`${base}.json`, JSON.stringify(merged, null, 2) + "\n");
  writeFileSync(`${base}.svg`, renderSvg(merged));
  console.error(`wrote ${base}.json and ${base}.svg`);
  if (options.readme) console.error(updateReadme(options.out, "README.md"));
}

if (import.meta.main) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  }
}
