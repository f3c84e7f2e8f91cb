// What a batch sends: the files dropped or chosen (folders read recursively), which of them to keep,
// and how they are cut into requests (as `tribunal batch` does: client/tribunal_client/batch.py).

import type { BatchFile } from "./api";

/** Images and videos by extension: what a folder contributes (the CLI's list). */
const MEDIA_EXTENSIONS = new Set([
  ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif",
  ".mp4", ".mov", ".webm", ".avi", ".mkv",
]);
const ARCHIVE_SUFFIXES = [".zip", ".tar", ".tgz", ".tar.gz"];
/** What file managers leave in folders; the gateway skips the same names inside archives. */
const SYSTEM_FILES = new Set([".ds_store", "thumbs.db", "desktop.ini"]);

/** Requests of at most this many files and bytes (a single larger file goes alone), as the CLI's defaults. */
export const PART_FILES = 100;
export const PART_BYTES = 64 * 2 ** 20;

function lower(name: string): string {
  return name.toLowerCase();
}

export function isArchiveName(name: string): boolean {
  return ARCHIVE_SUFFIXES.some((suffix) => lower(name).endsWith(suffix));
}

export function isMediaName(name: string): boolean {
  const base = lower(name);
  const dot = base.lastIndexOf(".");
  return dot >= 0 && MEDIA_EXTENSIONS.has(base.slice(dot));
}

export function isImageName(name: string): boolean {
  return isMediaName(name) && !/\.(mp4|mov|webm|avi|mkv)$/.test(lower(name));
}

/** Hidden files, macOS resource forks and the like: never meant to be analysed. */
function isClutter(path: string): boolean {
  const parts = path.split("/");
  const base = lower(parts[parts.length - 1]);
  return base.startsWith(".") || SYSTEM_FILES.has(base) || parts.includes("__MACOSX");
}

export interface Picked {
  /** What will be sent. */
  files: BatchFile[];
  /** Files of a folder left out: not an image, a video or an archive, or clutter. */
  skipped: number;
}

/**
 * Keep what a batch should send. Files chosen one by one are all sent (the gateway judges their bytes and
 * fails what it cannot read, each alone); a folder's files only when their name says image, video or
 * archive, so a folder's notes and sidecar files do not become failed items.
 */
export function pick(files: BatchFile[]): Picked {
  const kept: BatchFile[] = [];
  let skipped = 0;
  for (const entry of files) {
    const inFolder = entry.name.includes("/");
    if (inFolder && (isClutter(entry.name) || !(isMediaName(entry.name) || isArchiveName(entry.name)))) skipped++;
    else kept.push(entry);
  }
  kept.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files: kept, skipped };
}

/**
 * The requests a batch is sent in: each archive alone (the gateway unpacks an archive only when it is the
 * only file of its request), the other files in parts of PART_FILES files and PART_BYTES bytes.
 */
export function planParts(files: BatchFile[]): BatchFile[][] {
  const parts: BatchFile[][] = [];
  let part: BatchFile[] = [];
  let size = 0;
  for (const entry of files) {
    if (isArchiveName(entry.name)) {
      parts.push([entry]);
      continue;
    }
    if (part.length && (part.length >= PART_FILES || size + entry.file.size > PART_BYTES)) {
      parts.push(part);
      part = [];
      size = 0;
    }
    part.push(entry);
    size += entry.file.size;
  }
  if (part.length) parts.push(part);
  return parts;
}

/** A folder chosen with the folder dialog: each file under its path inside the folder. */
export function fromFileList(list: FileList | null): BatchFile[] {
  return Array.from(list ?? [], (file) => ({ file, name: file.webkitRelativePath || file.name }));
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry: FileSystemEntry, out: BatchFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, name: entry.fullPath.replace(/^\/+/, "") || file.name });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries answers in batches (100 in Chromium) until it answers none.
    for (let batch = await readEntries(reader); batch.length; batch = await readEntries(reader)) {
      for (const child of batch) await walk(child, out);
    }
  }
}

/**
 * What was dropped: files, and folders read recursively. The entries must be taken while the drop event
 * runs (the browser empties the transfer afterwards); reading them may take longer.
 */
export function fromDrop(transfer: DataTransfer): Promise<BatchFile[]> {
  const entries = Array.from(transfer.items ?? [])
    .filter((item) => item.kind === "file")
    .map((item) => item.webkitGetAsEntry?.() ?? null);
  const files = Array.from(transfer.files ?? []);
  if (!entries.length || entries.some((entry) => entry === null)) {
    return Promise.resolve(files.map((file) => ({ file, name: file.name })));
  }
  return (async () => {
    const out: BatchFile[] = [];
    for (const entry of entries) await walk(entry!, out);
    return out;
  })();
}
