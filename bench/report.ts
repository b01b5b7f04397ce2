/**
 * How benchmark figures are shown: markdown tables (the terminal and the
 * README), and a hand-written SVG bar chart of operations per second
 * normalised to the floor behind the heap's API ("floor (API)"). Reads a
 * {@linkcode BenchReport}; computes the ratios, stores nothing.
 * @module
 */

import type { BenchReport, ContenderFigures, WorkloadFigures } from "./runner.ts";
import { formatSize } from "./workloads.ts";

/** Operations per second, short: "12.3 M", "456 k". */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1e9) return `${(perSecond / 1e9).toFixed(2)} G`;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(perSecond >= 1e8 ? 0 : perSecond >= 1e7 ? 1 : 2)} M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(perSecond >= 1e5 ? 0 : perSecond >= 1e4 ? 1 : 2)} k`;
  return perSecond.toFixed(0);
}

function ratio(value: number | null, base: number | null): string {
  if (value === null || base === null || base === 0) return "-";
  const r = value / base;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function rateOf(workload: WorkloadFigures, name: string): number | null {
  return workload.results.find((entry) => entry.contender === name)?.opsPerSecond ?? null;
}

/** The contender ratios are taken against: the floor behind the heap's API (reports written before it existed: "floor"). */
export const BASELINE_NAME = "floor (API)";

function baselineOf(workload: WorkloadFigures): number | null {
  return rateOf(workload, BASELINE_NAME) ?? rateOf(workload, "floor");
}

function spread(entry: ContenderFigures): string {
  const rates = entry.roundsOpsPerSecond;
  if (rates.length < 2 || entry.opsPerSecond === null) return "-";
  return `${((Math.max(...rates) - Math.min(...rates)) / entry.opsPerSecond * 100).toFixed(0)}%`;
}

/**
 * One workload as a markdown table: contender, median ops/s, spread over the
 * rounds (max − min, of the median), ratio to the floor behind the API and to hakmem,
 * peak footprint, overhead (peak footprint / peak live), peak live bytes, and
 * the workload's extra columns. Contenders that failed or were skipped follow
 * as notes.
 */
export function formatWorkloadTable(workload: WorkloadFigures, headingLevel = 3): string {
  const floor = baselineOf(workload);
  const hakmem = rateOf(workload, "hakmem");
  const headings = ["contender", "ops/s (median)", "spread", `vs ${BASELINE_NAME}`, "vs hakmem", "peak footprint", "overhead", "peak live"];
  headings.push(...workload.extraColumns.map((column) => column.label));
  const rounds = `${workload.rounds} round${workload.rounds === 1 ? "" : "s"}`;
  const lines = [
    `${"#".repeat(headingLevel)} ${workload.name}`,
    "",
    `${workload.description} Median of ${rounds}${workload.quick ? " (quick mode: times mean nothing)" : ""}.`,
    "",
    `| ${headings.join(" | ")} |`,
    `|${headings.map((_, index) => index === 0 ? "---" : "---:").join("|")}|`,
  ];
  const notes: string[] = [];
  for (const entry of workload.results) {
    if (entry.status === "skipped") {
      notes.push(`- ${entry.contender}: not run (${entry.reason}).`);
      continue;
    }
    const failed = entry.status === "failed";
    if (failed) notes.push(`- ${entry.contender}: failed, ${entry.reason}.`);
    const cells = [
      entry.contender,
      failed ? "failed" : entry.opsPerSecond === null ? "-" : formatRate(entry.opsPerSecond),
      spread(entry),
      ratio(entry.opsPerSecond, floor),
      ratio(entry.opsPerSecond, hakmem),
      entry.peakFootprintBytes === null ? "-" : formatSize(entry.peakFootprintBytes),
      failed || entry.overhead === null ? "-" : `${entry.overhead.toFixed(2)}×`, // a stopped run's live bytes are not the workload's
      failed ? "-" : formatSize(entry.peakLiveBytes),
      ...workload.extraColumns.map((column) => {
        const value = entry.extra[column.key];
        return value === null || value === undefined ? "-" : formatSize(value);
      }),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  if (notes.length > 0) lines.push("", ...notes);
  return lines.join("\n");
}

/** A heading line naming the runtime, the machine and the date of `report`. */
export function formatProvenance(report: BenchReport): string {
  const { runtime, machine } = report;
  const cores = machine.cores > 0 ? `, ${machine.cores} logical cores` : "";
  const when = `${report.date.slice(0, 10)}, seed ${report.seed}${report.quick ? " (quick mode)" : ""}`;
  return `${runtime.name} ${runtime.version} (${runtime.engine}) on ${machine.cpu}${cores}, ${machine.platform}; ${when}`;
}

/** Every workload of `report` as markdown tables under one provenance line. */
export function formatReport(report: BenchReport, headingLevel = 3): string {
  const tables = report.workloads.map((workload) => formatWorkloadTable(workload, headingLevel));
  return [`_${formatProvenance(report)}_`, ...tables].join("\n\n") + "\n";
}

const COLORS = ["#d1495b", "#edae49", "#00798c", "#30638e", "#003d5b", "#8f2d56", "#6a994e", "#7d7d7d", "#b56576", "#4f5d75"];

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * A bar chart of `report`: per workload, one bar per contender that ran, its
 * median ops/s divided by the floor (API)'s (1.0 = as fast as it), each bar
 * labelled with the ratio and the ops/s. Plain SVG, no dependencies.
 */
export function renderSvg(report: BenchReport): string {
  const names: string[] = [];
  for (const workload of report.workloads) {
    for (const entry of workload.results) if (!names.includes(entry.contender)) names.push(entry.contender);
  }
  const width = 960, labelWidth = 170, barArea = 560, barHeight = 16, gap = 4, titleHeight = 26, top = 48;
  const rows: string[] = [];
  let y = top;
  let maxRatio = 1;
  for (const workload of report.workloads) {
    const floor = baselineOf(workload);
    for (const entry of workload.results) {
      if (floor && entry.opsPerSecond) maxRatio = Math.max(maxRatio, entry.opsPerSecond / floor);
    }
  }
  const scale = barArea / maxRatio;
  for (const workload of report.workloads) {
    const floor = baselineOf(workload);
    rows.push(`<text x="10" y="${y + 16}" class="title">${escapeXml(workload.name)}</text>`);
    y += titleHeight;
    for (const entry of workload.results) {
      if (entry.status === "skipped") continue;
      const color = COLORS[names.indexOf(entry.contender) % COLORS.length];
      rows.push(
        `<text x="${labelWidth - 8}" y="${y + barHeight - 4}" class="label" text-anchor="end">${escapeXml(entry.contender)}</text>`,
      );
      if (entry.opsPerSecond === null || !floor) {
        const why = entry.status === "failed" ? "failed" : "no floor to compare with";
        rows.push(`<text x="${labelWidth + 4}" y="${y + barHeight - 4}" class="value">${why}</text>`);
      } else {
        const relative = entry.opsPerSecond / floor;
        const length = Math.max(1, relative * scale);
        rows.push(`<rect x="${labelWidth}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${color}"/>`);
        const label = `${relative.toFixed(2)}× (${formatRate(entry.opsPerSecond)} ops/s)`;
        rows.push(`<text x="${(labelWidth + length + 6).toFixed(1)}" y="${y + barHeight - 4}" class="value">${label}</text>`);
      }
      y += barHeight + gap;
    }
    y += gap * 2;
  }
  const floorX = labelWidth + scale;
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    "<style>.title{font-size:14px;font-weight:bold}.label{font-size:12px}.value{font-size:11px;fill:#333}.note{font-size:11px;fill:#555}</style>",
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="18" class="title">hakmem benchmarks: ops/s relative to the floor allocator behind the heap API (1.0 = floor (API))</text>`,
    `<text x="10" y="36" class="note">${escapeXml(formatProvenance(report))}</text>`,
    `<line x1="${floorX.toFixed(1)}" y1="${top}" x2="${floorX.toFixed(1)}" y2="${y}" stroke="#999" stroke-dasharray="4 3"/>`,
    ...rows,
    "</svg>",
    "",
  ].join("\n");
}
