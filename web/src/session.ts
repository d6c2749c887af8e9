// Who is signed in: the access token and the account, in memory and in sessionStorage (so a
// reload keeps the session in this tab only, and it ends with the tab). Never localStorage:
// a token there outlives the tab and is readable by every page of the origin forever.
import { useSyncExternalStore } from "react";

export interface Session {
  token: string;
  accountId: string;
  name: string;
  /** Epoch milliseconds after which the token is refused. */
  expiresAt: number;
}

const key = "bazaar.session";
let current: Session | null = read();
const listeners = new Set<() => void>();

function read(): Session | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(key) ?? "null") as Session | null;
    return saved && saved.expiresAt > Date.now() ? saved : null;
  } catch {
    return null;
  }
}

export function signIn(session: Session): void {
  current = session;
  sessionStorage.setItem(key, JSON.stringify(session));
  for (const listener of listeners) listener();
}

export function signOut(): void {
  current = null;
  sessionStorage.removeItem(key);
  for (const listener of listeners) listener();
}

/** The token to send now, or none once it has expired. */
export function currentToken(): string | undefined {
  return current && current.expiresAt > Date.now() ? current.token : undefined;
}

export function useSession(): Session | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => current,
  );
}
