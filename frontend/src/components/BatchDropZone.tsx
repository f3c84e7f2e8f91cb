// Choose a batch: drop files, folders or an archive, or pick files or a whole folder with the dialogs.

import { useEffect, useRef, useState, type DragEvent } from "react";
import type { BatchFile } from "../api";
import { fromDrop, fromFileList } from "../batch";

interface Props {
  onFiles: (files: BatchFile[]) => void;
  disabled?: boolean;
}

export function BatchDropZone({ onFiles, disabled = false }: Props) {
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [reading, setReading] = useState(false);

  useEffect(() => {
    // Not in React's attribute types; every current browser supports it.
    folderInput.current?.setAttribute("webkitdirectory", "");
  }, []);

  const drop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    if (disabled) return;
    setReading(true);
    fromDrop(event.dataTransfer)
      .then((files) => files.length && onFiles(files))
      .finally(() => setReading(false));
  };

  const openFiles = () => !disabled && filesInput.current?.click();

  return (
    <div className="batch-zone">
      <div
        className={`dropzone${over ? " over" : ""}${disabled ? " disabled" : ""}`}
        role="button"
        tabIndex={0}
        aria-label="Choose images, videos or an archive to analyse as a batch"
        data-testid="batch-dropzone"
        onClick={openFiles}
        onKeyDown={(e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            openFiles();
          }
        }}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={drop}
      >
        <svg viewBox="0 0 24 24" width="40" height="40" aria-hidden="true">
          <path d="M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2zm9 3-4 4h3v4h2v-4h3z" fill="currentColor" />
        </svg>
        <p>
          <strong>{reading ? "Reading the folder…" : "Drop a folder, files or an archive here"}</strong>
          <br />
          or click to choose files
        </p>
        <p className="muted small">Images and videos, or one ZIP, TAR or TAR.GZ archive of them</p>
      </div>
      <button type="button" className="secondary" disabled={disabled} onClick={() => folderInput.current?.click()}>
        Choose a folder…
      </button>
      <input
        ref={filesInput}
        type="file"
        multiple
        accept="image/*,video/*,.zip,.tar,.tgz,.gz,application/zip,application/x-tar,application/gzip"
        hidden
        data-testid="batch-files-input"
        onChange={(e) => {
          const files = Array.from(e.target.files ?? [], (file) => ({ file, name: file.name }));
          if (files.length) onFiles(files);
          e.target.value = "";
        }}
      />
      <input
        ref={folderInput}
        type="file"
        multiple
        hidden
        data-testid="batch-folder-input"
        onChange={(e) => {
          const files = fromFileList(e.target.files);
          if (files.length) onFiles(files);
          e.target.value = "";
        }}
      />
    </div>
  );
}
