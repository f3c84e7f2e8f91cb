// Sign in, or create an account (the first account on a gateway becomes its administrator).

import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router-dom";
import { describeError } from "../api";
import { useAuth } from "../auth";

export function SignInPage({ mode }: { mode: "signin" | "signup" }) {
  const { user, config, signIn, signUp } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const from = (location.state as { from?: string } | null)?.from ?? "/";
  const signingUp = mode === "signup";

  if (user) return <Navigate to={from} replace />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await (signingUp ? signUp : signIn)(username.trim(), password);
      navigate(from, { replace: true });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card auth-card">
      <h1>{signingUp ? "Create an account" : "Sign in"}</h1>
      <p className="muted">
        {signingUp
          ? "The first account on a gateway becomes its administrator."
          : "Sign in to analyse files and see your history."}
      </p>
      <form onSubmit={submit} className="stack">
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            required
            minLength={3}
            maxLength={32}
            pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{2,31}"
            title="3-32 letters, digits, '_', '.' or '-'"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={signingUp ? "new-password" : "current-password"}
            required
            minLength={signingUp ? 8 : 1}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          {signingUp && <span className="hint">At least 8 characters.</span>}
        </label>
        {error && (
          <p className="alert error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Please wait…" : signingUp ? "Create account" : "Sign in"}
        </button>
      </form>
      <p className="switch">
        {signingUp ? (
          <>
            Have an account? <Link to="/signin" state={location.state}>Sign in</Link>
          </>
        ) : config?.registration_open !== false ? (
          <>
            New here? <Link to="/signup" state={location.state}>Create an account</Link>
          </>
        ) : (
          "Sign-up is closed; ask an administrator for an account."
        )}
      </p>
    </section>
  );
}
