// API keys for scripts: create (the key is shown once), list, revoke.

import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, describeError } from "../api";
import { when } from "../format";
import type { ApiKey, NewApiKey } from "../types";

export function ApiKeysPage() {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<NewApiKey | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    api<ApiKey[]>("GET", "/api-keys").then(setKeys, (err) => setError(describeError(err)));
  }, []);
  useEffect(load, [load]);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setCopied(false);
    try {
      setCreated(await api<NewApiKey>("POST", "/api-keys", { json: { name: name.trim() } }));
      setName("");
      load();
    } catch (err) {
      setError(describeError(err));
    }
  };

  const revoke = async (key: ApiKey) => {
    if (!window.confirm(`Revoke "${key.name}"? Scripts using it will stop working.`)) return;
    try {
      await api("DELETE", `/api-keys/${key.id}`);
      if (created?.id === key.id) setCreated(null);
      load();
    } catch (err) {
      setError(describeError(err));
    }
  };

  const copy = async () => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      setCopied(false); // clipboard needs a secure context; the key is selectable anyway
    }
  };

  const origin = window.location.origin;
  return (
    <div className="page">
      <h1>API keys</h1>
      <p className="muted">
        Keys let scripts call the API as you. Send one in the <code>X-API-Key</code> header.
      </p>
      <section className="card">
        <form onSubmit={create} className="inline-form">
          <label>
            New key name
            <input
              value={name}
              onChange={(e) => setName(e.target.value)}
              placeholder="e.g. nightly batch"
              required
              maxLength={100}
              name="key-name"
            />
          </label>
          <button type="submit" className="primary">
            Create key
          </button>
        </form>
        {created && (
          <div className="new-key" data-testid="new-key">
            <p>
              <strong>Copy your new key now.</strong> It will not be shown again.
            </p>
            <div className="key-box">
              <code data-testid="new-key-value">{created.key}</code>
              <button type="button" className="secondary" onClick={copy}>
                {copied ? "Copied" : "Copy"}
              </button>
            </div>
            <pre className="example">
              curl -H "X-API-Key: {created.key}" -F file=@photo.jpg {origin}/detect
            </pre>
          </div>
        )}
        {error && <p className="alert error">{error}</p>}
      </section>
      <section className="card flush">
        {keys.length === 0 ? (
          <p className="empty muted">No keys yet.</p>
        ) : (
          <table className="keys" data-testid="key-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Key</th>
                <th>Created</th>
                <th>Last used</th>
                <th>Status</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id} className={key.revoked_at ? "revoked" : undefined}>
                  <td data-label="Name">{key.name}</td>
                  <td data-label="Key" className="mono">
                    {key.prefix}…
                  </td>
                  <td data-label="Created">{when(key.created_at)}</td>
                  <td data-label="Last used">{key.last_used_at ? when(key.last_used_at) : "never"}</td>
                  <td data-label="Status">
                    {key.revoked_at ? (
                      <span className="chip status-error">revoked</span>
                    ) : (
                      <span className="chip status-ok">active</span>
                    )}
                  </td>
                  <td>
                    {!key.revoked_at && (
                      <button type="button" className="danger small" onClick={() => revoke(key)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
