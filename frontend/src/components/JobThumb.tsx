// A job item's thumbnail: the file as dropped when it was sent from this tab, else the analysed file the
// gateway kept (GET /history/{id}/file, only with keep_uploads), else a label of the file's kind.

import { useEffect, useState } from "react";
import { fetchObjectUrl } from "../api";
import { isImageName } from "../batch";
import type { JobItem } from "../types";

/** Files sent from this tab, per job and item number (seq); gone on reload. */
const sessionFiles = new Map<string, Map<number, File>>();

export function rememberFiles(jobId: string, firstSeq: number, files: File[]): void {
  let byJob = sessionFiles.get(jobId);
  if (!byJob) sessionFiles.set(jobId, (byJob = new Map()));
  files.forEach((file, i) => byJob!.set(firstSeq + i, file));
}

// Kept files fetched so far (object URLs, or null: not available), oldest first so the cache stays small.
const MAX_CACHED = 300;
const fetched = new Map<string, Promise<string | null>>();
// Whether the gateway keeps uploads: unknown until a first fetch answers. Once one failed with none
// served, the others are not asked for (keep_uploads is off: each would be a 404).
let keptFiles: boolean | null = null;
// Full-size files: a few at a time, not a page's worth at once.
const MAX_PARALLEL = 4;
let running = 0;
const waiting: (() => void)[] = [];

async function throttled<T>(task: () => Promise<T>): Promise<T> {
  if (running >= MAX_PARALLEL) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await task();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function keptFile(analysisId: string): Promise<string | null> {
  let found = fetched.get(analysisId);
  if (!found) {
    found = throttled(async () => {
      if (keptFiles === false) return null;
      try {
        const url = await fetchObjectUrl(`/history/${encodeURIComponent(analysisId)}/file`);
        keptFiles = true;
        return url;
      } catch {
        keptFiles ??= false;
        return null;
      }
    });
    fetched.set(analysisId, found);
    if (fetched.size > MAX_CACHED) {
      const [oldest, url] = fetched.entries().next().value!;
      fetched.delete(oldest);
      url.then((u) => u && URL.revokeObjectURL(u));
    }
  }
  return found;
}

function kindLabel(name: string): string {
  const dot = name.lastIndexOf(".");
  const ext = dot > name.lastIndexOf("/") ? name.slice(dot + 1).toUpperCase() : "";
  return ext.slice(0, 4) || "FILE";
}

export function JobThumb({ jobId, item }: { jobId: string; item: JobItem }) {
  const local = sessionFiles.get(jobId)?.get(item.seq);
  const [url, setUrl] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    if (local) {
      if (!local.type.startsWith("image/")) return;
      const own = URL.createObjectURL(local);
      setUrl(own);
      return () => URL.revokeObjectURL(own);
    }
    if (item.analysis_id && isImageName(item.name) && keptFiles !== false) {
      keptFile(item.analysis_id).then((found) => live && setUrl(found));
    }
    return () => {
      live = false;
    };
  }, [local, item.analysis_id, item.name]);

  if (url)
    return (
      // A file named like an image that is none (the item failed) shows the placeholder instead.
      <img src={url} alt="" className="job-thumb" data-testid="job-thumb" onError={() => setUrl(null)} />
    );
  return (
    <span className="job-thumb placeholder" aria-hidden="true">
      {kindLabel(item.name)}
    </span>
  );
}
