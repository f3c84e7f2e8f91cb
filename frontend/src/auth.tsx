// Who is signed in, and the actions that change it; every page reads this through useAuth().

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, onSignedOut, storedTokens, storeTokens } from "./api";
import type { AuthConfig, Tokens, User } from "./types";

interface AuthState {
  config: AuthConfig | null;
  user: User | null;
  loading: boolean;
  signIn: (username: string, password: string) => Promise<void>;
  signUp: (username: string, password: string) => Promise<void>;
  signOut: () => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [user, setUser] = useState<User | null>(null);
  const [loading, setLoading] = useState(true);

  const signOut = useCallback(() => {
    storeTokens(null);
    setUser(null);
  }, []);

  useEffect(() => {
    onSignedOut(() => setUser(null));
    (async () => {
      try {
        setConfig(await api<AuthConfig>("GET", "/auth/config"));
        if (storedTokens()) setUser(await api<User>("GET", "/users/me"));
      } catch {
        storeTokens(null); // tokens from another gateway, or expired for good
      } finally {
        setLoading(false);
      }
    })();
  }, []);

  const signIn = useCallback(async (username: string, password: string) => {
    const form = new URLSearchParams({ username, password });
    storeTokens(await api<Tokens>("POST", "/auth/token", { form }));
    setUser(await api<User>("GET", "/users/me"));
  }, []);

  const signUp = useCallback(
    async (username: string, password: string) => {
      await api<User>("POST", "/auth/register", { json: { username, password } });
      await signIn(username, password);
    },
    [signIn],
  );

  const value = useMemo(
    () => ({ config, user, loading, signIn, signUp, signOut }),
    [config, user, loading, signIn, signUp, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}
