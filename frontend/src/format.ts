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

/** A detector name for people: "metadata_provenance" → "metadata provenance". Sources: sourceLabel. */
export function label(name: string): string {
  return name.replace(/_/g, " ");
}

/**
 * What people read for a source or class name the gateway sends (its public families, see
 * tribunal_sdk.taxonomy.PUBLIC_CLASSES). The one label table for sources: a name missing here is shown as-is.
 */
export const SOURCE_LABEL: Record<string, string> = {
  real: "real",
  sd: "Stable Diffusion 1.x/2.x",
  sdxl: "SDXL",
  sd35: "SD 3.x",
  flux: "FLUX",
  hidream: "HiDream",
  qwen_image: "Qwen-Image",
  gpt_image: "GPT-image / DALL-E",
  midjourney: "Midjourney",
  firefly: "Adobe Firefly",
  gemini: "Gemini / Imagen",
  seedream: "Seedream",
  ideogram: "Ideogram",
  recraft: "Recraft",
  kandinsky: "Kandinsky",
  chroma: "Chroma",
  lumina: "Lumina",
  gan: "GAN",
  other_ai: "other AI",
  unknown_ai: "AI (unknown generator)",
};

/** "gpt_image" → "GPT-image / DALL-E", "unknown_ai" → "AI (unknown generator)"; unknown names as-is. */
export function sourceLabel(name: string): string {
  return Object.prototype.hasOwnProperty.call(SOURCE_LABEL, name) ? SOURCE_LABEL[name] : name;
}
