// Talking to the gateway: JSON requests with the signed-in user's token (refreshed once when it
// expires), and uploads through XMLHttpRequest, the one browser API that reports upload progress.

import type { AnalysisResult, JobSummary, Tokens } from "./types";

const TOKENS_KEY = "tribunal.tokens";

/** An error answer from the gateway: its HTTP status, machine code and human detail. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly retryAfter?: number,
  ) {
    super(detail);
  }
}

let signedOutListener: (() => void) | null = null;

/** Called when the tokens stop working (expired refresh token, account removed). */
export function onSignedOut(listener: () => void): void {
  signedOutListener = listener;
}

export function storedTokens(): Tokens | null {
  try {
    const raw = localStorage.getItem(TOKENS_KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

export function storeTokens(tokens: Tokens | null): void {
  if (tokens) localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  else localStorage.removeItem(TOKENS_KEY);
}

function authHeaders(): Record<string, string> {
  const tokens = storedTokens();
  return tokens ? { Authorization: `Bearer ${tokens.access_token}` } : {};
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let detail = response.statusText || "request failed";
  try {
    const body = await response.json();
    code = body.error ?? code;
    detail = body.detail ?? detail;
  } catch {
    // not JSON (a proxy's error page): keep the status text
  }
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, code, detail, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

let refreshing: Promise<boolean> | null = null;

/** Trade the refresh token for new tokens; one refresh at a time, shared by concurrent callers. */
export function refreshTokens(): Promise<boolean> {
  refreshing ??= (async () => {
    const tokens = storedTokens();
    if (!tokens) return false;
    const response = await fetch("/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    });
    if (!response.ok) {
      storeTokens(null);
      signedOutListener?.();
      return false;
    }
    storeTokens((await response.json()) as Tokens);
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function isStaleToken(error: ApiError): boolean {
  return error.status === 401 && (error.code === "token_expired" || error.code === "invalid_token");
}

type Body = { json?: unknown; form?: URLSearchParams };

async function send(method: string, path: string, body?: Body): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  let payload: BodyInit | undefined;
  if (body?.json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body.json);
  } else if (body?.form) {
    payload = body.form;
  }
  return fetch(path, { method, headers, body: payload });
}

/** A JSON request; throws ApiError on an error answer (after one token refresh when it had expired). */
export async function api<T>(method: string, path: string, body?: Body): Promise<T> {
  let response = await send(method, path, body);
  if (!response.ok) {
    const error = await errorFrom(response);
    if (!(isStaleToken(error) && storedTokens() && (await refreshTokens()))) throw error;
    response = await send(method, path, body);
    if (!response.ok) throw await errorFrom(response);
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A file the API serves (a kept upload) as an object URL the page can show; revoke it when done. */
export async function fetchObjectUrl(path: string): Promise<string> {
  let response = await fetch(path, { headers: authHeaders() });
  if (response.status === 401 && (await refreshTokens())) response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw await errorFrom(response);
  return URL.createObjectURL(await response.blob());
}

/** A file the API serves as an attachment (an export), saved by the browser under the name the gateway gives. */
export async function downloadFile(path: string, fallbackName: string): Promise<Headers> {
  let response = await fetch(path, { headers: authHeaders() });
  if (response.status === 401 && (await refreshTokens())) response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw await errorFrom(response);
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return response.headers;
}

export interface DetectOptions {
  explain: boolean;
  method?: string;
}

/** An upload under way: its answer, and a way to stop it. */
export interface Upload<T = AnalysisResult> {
  done: Promise<T>;
  abort: () => void;
}

/**
 * POST a multipart form with upload progress: ``onProgress`` gets the uploaded fraction, then 1 while the
 * gateway works. The form is built afresh for the one retry after a token refresh.
 */
function postForm<T>(path: string, buildForm: () => FormData, onProgress: (fraction: number) => void): Upload<T> {
  let xhr: XMLHttpRequest | null = null;
  let aborted = false;
  const attempt = () =>
    new Promise<T>((resolve, reject) => {
      if (aborted) {
        reject(new ApiError(0, "aborted", "the upload was cancelled"));
        return;
      }
      xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.responseType = "json";
      for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.upload.onload = () => onProgress(1);
      xhr.onload = () => {
        const request = xhr!;
        const body = request.response ?? {};
        if (request.status >= 200 && request.status < 300) resolve(body as T);
        else {
          const retry = Number(request.getResponseHeader("Retry-After"));
          reject(
            new ApiError(
              request.status,
              body.error ?? `http_${request.status}`,
              body.detail ?? "the upload failed",
              Number.isFinite(retry) && retry > 0 ? retry : undefined,
            ),
          );
        }
      };
      xhr.onerror = () => reject(new ApiError(0, "network_error", "the gateway could not be reached"));
      xhr.onabort = () => reject(new ApiError(0, "aborted", "the upload was cancelled"));
      xhr.send(buildForm());
    });
  const done = attempt().catch(async (error: unknown) => {
    if (error instanceof ApiError && isStaleToken(error) && storedTokens() && (await refreshTokens())) {
      onProgress(0);
      return attempt();
    }
    throw error;
  });
  return {
    done,
    abort: () => {
      aborted = true;
      xhr?.abort();
    },
  };
}

/** POST /detect with progress: ``onProgress`` gets the uploaded fraction, then 1 while the gateway works. */
export function uploadForDetection(file: File, options: DetectOptions, onProgress: (fraction: number) => void): Upload {
  return postForm<AnalysisResult>(
    "/detect",
    () => {
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("explain", String(options.explain));
      if (options.method) form.append("ensemble_method", options.method);
      return form;
    },
    onProgress,
  );
}

/** A file of a batch and the name it is sent under (a folder's files: their path inside the folder). */
export interface BatchFile {
  file: File;
  name: string;
}

/**
 * One part of a batch job: POST /jobs creates the job (with the options), POST /jobs?add_to=<id> adds the
 * files to it (the job's options apply). Answers the job's summary.
 */
export function uploadJobPart(
  files: BatchFile[],
  options: { method?: string; addTo?: string },
  onProgress: (fraction: number) => void,
): Upload<JobSummary> {
  const path = options.addTo ? `/jobs?add_to=${encodeURIComponent(options.addTo)}` : "/jobs";
  return postForm<JobSummary>(
    path,
    () => {
      const form = new FormData();
      for (const { file, name } of files) form.append("files", file, name);
      if (!options.addTo && options.method) form.append("ensemble_method", options.method);
      return form;
    },
    onProgress,
  );
}

/** A message for people: the gateway's detail (which already names the wait for a rate limit). */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
