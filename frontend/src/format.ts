// Small formatting helpers shared by the pages.

import type { Verdict } from "./types";

export const VERDICT_LABEL: Record<Verdict, string> = {
  fake: "AI-generated",
  real: "Authentic",
  uncertain: "Uncertain",
};

export function percent(value: number | null | undefined, digits = 0): string {
  return value == null ? "—" : `${(value * 100).toFixed(digits)}%`;
}

export function ms(value: number | null | undefined): string {
  if (value == null) return "—";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KB`;
  return `${(value / 1024 / 1024).toFixed(1)} MB`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "stable_diffusion_xl" → "stable diffusion xl" */
export function label(name: string): string {
  return name.replace(/_/g, " ");
}
