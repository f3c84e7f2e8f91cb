// Choose a file by dropping it or by the file dialog (keyboard users: the zone is a button).

import { useRef, useState, type DragEvent } from "react";

interface Props {
  onFile: (file: File) => void;
  disabled?: boolean;
}

export function DropZone({ onFile, disabled = false }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);

  const drop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    const file = event.dataTransfer.files?.[0];
    if (file && !disabled) onFile(file);
  };

  return (
    <div
      className={`dropzone${over ? " over" : ""}${disabled ? " disabled" : ""}`}
      role="button"
      tabIndex={0}
      aria-label="Choose an image or video to analyse"
      data-testid="dropzone"
      onClick={() => !disabled && input.current?.click()}
      onKeyDown={(e) => {
        if ((e.key === "Enter" || e.key === " ") && !disabled) {
          e.preventDefault();
          input.current?.click();
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
        <path d="M12 3 7 8h3v6h4V8h3zM5 17v2h14v-2z" fill="currentColor" />
      </svg>
      <p>
        <strong>Drop an image or video here</strong>
        <br />
        or click to choose one
      </p>
      <p className="muted small">JPEG, PNG, WebP, BMP, TIFF, GIF · MP4, MOV, WebM, AVI</p>
      <input
        ref={input}
        type="file"
        accept="image/*,video/*"
        hidden
        data-testid="file-input"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) onFile(file);
          e.target.value = "";
        }}
      />
    </div>
  );
}
