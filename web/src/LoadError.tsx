// A read that failed: what went wrong, in the words errors.ts chooses, and a way to try again.
import { describeError } from "./errors.js";

export function LoadError({ error, retry }: { error: unknown; retry: () => unknown }) {
  return (
    <p role="alert" className="error">
      {describeError(error).message}{" "}
      <button type="button" className="link" onClick={() => void retry()}>
        Try again
      </button>
    </p>
  );
}
